from tests.conftest import PASSWORD, csrf_token_from, make_app


def test_login_and_logout(client, make_user):
    user = make_user("requester")
    resp = client.post("/login", data={"email": user.email.upper(), "password": PASSWORD})
    assert resp.status_code == 302
    page = client.get("/kb/").get_data(as_text=True)
    assert user.name in page
    assert client.post("/logout").status_code == 302
    assert user.name not in client.get("/kb/").get_data(as_text=True)


def test_wrong_password_and_unknown_email_give_the_same_message(client, make_user):
    user = make_user("requester")
    wrong = client.post("/login", data={"email": user.email, "password": "nope-nope-nope"})
    unknown = client.post("/login", data={"email": "ghost@example.test", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or password is not right." in wrong.get_data(as_text=True)
    assert "The email or password is not right." in unknown.get_data(as_text=True)


def test_deactivated_user_cannot_log_in(client, make_user, session):
    user = make_user("agent")
    user.active = False
    session.commit()
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 401


def test_next_parameter_cannot_leave_the_site(client, make_user):
    user = make_user("requester")
    resp = client.post("/login?next=//evil.example/x", data={"email": user.email, "password": PASSWORD})
    assert resp.headers["Location"] == "/"
    client.post("/logout")
    resp = client.post("/login?next=/kb/", data={"email": user.email, "password": PASSWORD})
    assert resp.headers["Location"] == "/kb/"


def test_password_is_hashed(make_user):
    user = make_user("requester")
    assert PASSWORD not in user.password_hash
    assert user.check_password(PASSWORD)


def test_csrf_is_required_on_login(csrf_app, make_user):
    user = make_user("requester")
    client = csrf_app.test_client()
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 400
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302


def test_login_is_rate_limited(tmp_path, make_user):
    from portal.extensions import db
    from kb.taxonomy import seed_taxonomy

    app = make_app(tmp_path / "rl", RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        db.create_all()
        seed_taxonomy(db.session)
        db.session.commit()
        client = app.test_client()
        codes = [client.post("/login", data={"email": "x@example.test", "password": "wrong-password"}).status_code
                 for _ in range(4)]
        db.session.remove()
    assert codes[:3] == [401, 401, 401]
    assert codes[3] == 429


def test_session_cookie_flags(client, make_user):
    user = make_user("requester")
    resp = client.post("/login", data={"email": user.email, "password": PASSWORD})
    cookie = resp.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_security_headers(client):
    resp = client.get("/login")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"


def test_language_from_browser_and_from_choice(client):
    zh = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "登录" in zh
    en = client.get("/login", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert "Log in" in en
    client.post("/language/zh", data={"next": "/login"})
    assert "登录" in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_users_language_setting_wins(client, make_user, login):
    user = make_user("requester", locale="zh")
    login(user)
    assert "退出" in client.get("/kb/", headers={"Accept-Language": "en"}).get_data(as_text=True)
