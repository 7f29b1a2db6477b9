"""The documents part of the chat page: attach by button or drop, the header's list and mode, upload errors."""

from __future__ import annotations

import base64

from playwright.sync_api import Locator, Page


class DocumentsBar:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.attach_button: Locator = page.get_by_role("button", name="Attach")
        self.file_input: Locator = page.locator("#document-input")
        self.section: Locator = page.get_by_role("region", name="Documents")
        self.items: Locator = self.section.get_by_role("listitem")
        self.mode: Locator = page.get_by_label("Use them by")
        self.mode_hint: Locator = page.locator("#document-mode-hint")
        self.cut_note: Locator = page.locator("#documents-cut")
        self.error: Locator = page.locator("#upload-error")
        self.composer: Locator = page.locator("#composer")

    def item(self, name: str) -> Locator:
        return self.items.filter(has=self.page.get_by_role("link", name=name))

    def choose_files(self, *files: tuple[str, bytes, str]) -> None:
        """Pick files with the Attach button's file chooser: (name, bytes, MIME type) each."""
        with self.page.expect_file_chooser() as chooser:
            self.attach_button.click()
        chooser.value.set_files([{"name": n, "mimeType": t, "buffer": b} for n, b, t in files])

    def drop_files(self, *files: tuple[str, bytes, str]) -> None:
        """Drag files over the composer and drop them, as from a file manager (a real DataTransfer of Files)."""
        payload = [{"name": n, "type": t, "data": base64.b64encode(b).decode()} for n, b, t in files]
        transfer = self.page.evaluate_handle(
            """(files) => {
                const transfer = new DataTransfer();
                for (const f of files) {
                    const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
                    transfer.items.add(new File([bytes], f.name, { type: f.type }));
                }
                return transfer;
            }""",
            payload,
        )
        self.composer.dispatch_event("dragenter", {"dataTransfer": transfer})
        self.composer.dispatch_event("dragover", {"dataTransfer": transfer})
        self.composer.dispatch_event("drop", {"dataTransfer": transfer})
