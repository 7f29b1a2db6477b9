"""The composer's voice controls: Record / Send recording, the recording bar (time, level, Cancel), Speak replies."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect


class VoiceControls:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.record: Locator = page.get_by_role("button", name="Record", exact=True)
        self.send: Locator = page.get_by_role("button", name="Send recording")
        self.bar: Locator = page.get_by_role("group", name="Recording")
        self.time: Locator = page.get_by_role("timer", name="Recording time")
        self.level: Locator = page.get_by_label("Microphone level")
        self.cancel: Locator = self.bar.get_by_role("button", name="Cancel")
        self.speak_replies: Locator = page.get_by_label("Speak replies")
        self.notice: Locator = page.get_by_role("alert")

    def start(self) -> None:
        """Press Record and wait until the microphone's sound reaches the level meter (audio is flowing)."""
        self.record.click()
        expect(self.bar).to_be_visible()
        expect(self.level).not_to_have_attribute("value", "0")

    def players(self, message: Locator) -> Locator:
        return message.locator("audio")

    def wait_until_playable(self, player: Locator, *, playing: bool = False) -> float:
        """Bounded wait until the player knows a duration above 0 (and, with playing, its time moves); the duration."""
        condition = "el => el.duration > 0 && isFinite(el.duration)" + (" && el.currentTime > 0" if playing else "")
        self.page.wait_for_function(condition, arg=player.element_handle(timeout=5000), timeout=5000)
        return float(player.evaluate("el => el.duration"))
