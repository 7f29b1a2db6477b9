"""The login page, by its labels and roles."""

from __future__ import annotations

from playwright.sync_api import Locator, Page


class LoginPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.username: Locator = page.get_by_label("Username")
        self.password: Locator = page.get_by_label("Password")
        self.submit: Locator = page.get_by_role("button", name="Log in")
        self.error: Locator = page.get_by_role("alert")

    def open(self) -> LoginPage:
        self.page.goto("/accounts/login/")
        return self

    def log_in(self, username: str, password: str) -> None:
        self.username.fill(username)
        self.password.fill(password)
        self.submit.click()
