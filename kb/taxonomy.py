"""The process taxonomy: six categories, each with subcategories so ownership is clear."""
from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from kb.db import Base

# slug, English name, Chinese name, [(sub slug, English, Chinese)]
TAXONOMY = [
    ("hardware", "Hardware faults", "硬件故障", [
        ("laptops-desktops", "Laptops and desktops", "笔记本与台式机"),
        ("printers-scanners", "Printers and scanners", "打印机与扫描仪"),
        ("peripherals", "Monitors and peripherals", "显示器与外设"),
        ("mobile-devices", "Phones and tablets", "手机与平板"),
    ]),
    ("software", "Software problems", "软件问题", [
        ("installation-licences", "Installation and licences", "安装与许可证"),
        ("office-productivity", "Office and productivity", "办公软件"),
        ("email-calendar", "Email and calendar", "邮件与日历"),
        ("operating-system", "Operating system and updates", "操作系统与更新"),
        ("business-applications", "Business applications", "业务系统"),
    ]),
    ("network", "Network connectivity", "网络连接", [
        ("vpn-remote", "VPN and remote work", "VPN 与远程办公"),
        ("wifi", "Wi-Fi", "无线网络"),
        ("wired-lan", "Wired network", "有线网络"),
        ("internet-dns", "Internet, proxy and DNS", "互联网、代理与 DNS"),
    ]),
    ("access", "Permissions and access", "权限与访问管理", [
        ("accounts-passwords", "Accounts and passwords", "账号与密码"),
        ("permissions-requests", "Access requests", "权限申请"),
        ("mfa-sso", "Multi-factor and single sign-on", "多因素认证与单点登录"),
    ]),
    ("security", "System security", "系统安全", [
        ("phishing-malware", "Phishing and malware", "钓鱼邮件与恶意软件"),
        ("data-protection", "Data protection", "数据保护"),
        ("lost-stolen-device", "Lost or stolen devices", "设备丢失或被盗"),
        ("incident-reporting", "Reporting a security incident", "安全事件报告"),
    ]),
    ("service", "Service and attitude", "服务态度", [
        ("service-etiquette", "Working with the service desk", "与服务台协作"),
        ("complaints-feedback", "Complaints and feedback", "投诉与反馈"),
        ("how-to-get-help", "How to get help", "如何获得帮助"),
    ]),
]


class Category(Base):
    __tablename__ = "category"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str] = mapped_column(String(120), default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), nullable=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    parent: Mapped["Category | None"] = relationship(remote_side="Category.id", back_populates="children")
    children: Mapped[list["Category"]] = relationship(back_populates="parent", order_by="Category.position")

    def label(self, locale: str | None = None) -> str:
        return self.name_zh if locale and locale.startswith("zh") and self.name_zh else self.name

    @property
    def top(self) -> "Category":
        return self.parent or self


def seed_taxonomy(session: Session) -> int:
    """Insert the process taxonomy; existing slugs are left alone. Returns rows added."""
    existing = {c.slug: c for c in session.scalars(select(Category))}
    added = 0
    for pos, (slug, name, name_zh, subs) in enumerate(TAXONOMY):
        parent = existing.get(slug)
        if parent is None:
            parent = Category(slug=slug, name=name, name_zh=name_zh, position=pos)
            session.add(parent)
            added += 1
        for sub_pos, (sub_slug, sub_name, sub_zh) in enumerate(subs):
            if sub_slug not in existing:
                session.add(Category(slug=sub_slug, name=sub_name, name_zh=sub_zh, parent=parent, position=sub_pos))
                added += 1
    session.flush()
    return added


def top_categories(session: Session) -> list[Category]:
    return list(session.scalars(select(Category).where(Category.parent_id.is_(None)).order_by(Category.position)))


def get_category(session: Session, slug: str) -> Category | None:
    return session.scalar(select(Category).where(Category.slug == slug))
