from kb.users import User, get_user_by_email


def test_admin_creates_user_and_sets_role(client, make_user, login, session):
    login(make_user("admin"))
    resp = client.post("/admin/users/new", data={"name": "New Agent", "email": "new.agent@example.test",
                                                 "password": "long-enough-pw", "role": "agent"})
    assert resp.status_code == 302
    created = get_user_by_email(session, "new.agent@example.test")
    assert created.role == "agent"
    resp = client.post(f"/admin/users/{created.id}", data={"role": "lead", "active": "y"})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(User, created.id).role == "lead"


def test_duplicate_email_is_a_form_error(client, make_user, login):
    admin = login(make_user("admin"))
    resp = client.post("/admin/users/new", data={"name": "X", "email": admin.email, "password": "long-enough-pw",
                                                 "role": "agent"})
    assert resp.status_code == 400
    assert "already exists" in resp.get_data(as_text=True)


def test_admin_cannot_demote_self(client, make_user, login):
    admin = login(make_user("admin"))
    resp = client.post(f"/admin/users/{admin.id}", data={"role": "agent", "active": "y"})
    assert resp.status_code == 400


def test_user_list_is_paginated_and_searchable(client, make_user, login):
    login(make_user("admin"))
    for i in range(30):
        make_user("requester", name=f"Person {i:02d}")
    first = client.get("/admin/users").get_data(as_text=True)
    assert "Page 1 of 2" in first
    found = client.get("/admin/users?q=person 07").get_data(as_text=True)
    assert "Person 07" in found and "Person 08" not in found


def test_non_admins_are_refused(client, make_user, login):
    assert client.get("/admin/users").status_code == 404  # anonymous: the area is not advertised
    login(make_user("lead"))
    assert client.get("/admin/users").status_code == 403
    assert client.post("/admin/users/new", data={}).status_code == 403


def test_cli_creates_user(app, session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "cli@example.test", "--name", "Cli User",
                                 "--role", "trainer", "--password", "long-enough-pw"])
    assert result.exit_code == 0, result.output
    assert get_user_by_email(session, "cli@example.test").role == "trainer"
    again = runner.invoke(args=["users", "create", "--email", "cli@example.test", "--name", "Cli User",
                                "--password", "long-enough-pw"])
    assert again.exit_code != 0 and "already exists" in again.output
