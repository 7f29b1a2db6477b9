"""The parts of documents that need no database: file names, what a file is, passages, the demo's quoting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.documents.chunks import split_pages, split_text
from chat.documents.extract import Refused, clean_name, extract
from chat.llm.demo_documents import answer_from_quoted, answer_from_search
from tests.support.pdfs import PLANTED, filler_pages, pdf_bytes


@pytest.mark.parametrize(("given_name", "expected"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\me\\notes.md", "notes.md"),
    ("  .hidden.txt ", "hidden.txt"),
    ("a<b>c\"d'e.txt", "a_b_c_d_e.txt"),
    ("tab\there\x00.csv", "tab here.csv"),
    ("Résumé.pdf", "Résumé.pdf"),
    ("", "document"),
    ("x" * 300 + ".json", "x" * 115 + ".json"),
])
def test_file_names_are_made_safe(given_name, expected):
    assert clean_name(given_name) == expected


def test_a_pdf_keeps_its_pages_and_a_text_file_is_one_unnumbered_page():
    extracted = extract("r.pdf", pdf_bytes(filler_pages(3, planted=PLANTED, on_page=2)), 10)
    assert extracted.is_pdf and len(extracted.pages) == 3 and PLANTED in extracted.pages[1]
    text = extract("n.txt", "\ufeffhello".encode(), 10)
    assert (text.is_pdf, text.pages, text.content_type) == (False, ["hello"], "text/plain")


def test_a_pdf_over_the_page_limit_is_refused_and_one_at_it_is_read():
    data = pdf_bytes(filler_pages(3, lines=2))
    assert len(extract("r.pdf", data, 3).pages) == 3
    with pytest.raises(Refused) as refused:
        extract("r.pdf", data, 2)
    assert refused.value.code == "too_many_pages" and "3 pages" in refused.value.message


@given(st.text(min_size=1, max_size=5000), st.integers(min_value=20, max_value=1200))
def test_passages_are_never_over_the_limit_and_keep_every_word(text, limit):
    passages = list(split_text(text, limit))
    assert all(0 < len(p) <= limit for p in passages)
    # Only white space at the cuts is dropped: every other character is kept, in order.
    assert "".join("".join(passages).split()) == "".join(text.split())


def test_passages_break_at_sentences_and_carry_their_page():
    page = " ".join(f"Sentence {n} ends here." for n in range(100))
    passages = list(split_pages(["short page", page], numbered=True, limit=200))
    assert passages[0] == (1, "short page")
    assert {number for number, _ in passages[1:]} == {2}
    assert all(text.endswith(".") for _, text in passages[1:])


def test_the_demo_quotes_the_sentence_sharing_most_words_with_the_question():
    result = "2 passages found:\n\n[1] report.pdf, page 3\nGulls fly. " + PLANTED + "\n\n[2] notes.txt\nThe keeper slept."
    answer = answer_from_search(result, "How many gulls did the lighthouse keeper count?")
    assert answer == f'Your documents say: "{PLANTED}" (report.pdf, page 3).'
    assert "found nothing" in answer_from_search("No passage matches.", "gulls?")


def test_the_demo_reads_only_the_quoted_documents_of_its_prompt():
    system = (
        "You are Skeptic. Doubt the keeper's count.\n\nThe person attached these documents.\n\n"
        '<document name="report.pdf">\n[page 1]\nIntro.\n[page 2]\n' + PLANTED + "\n</document>"
    )
    assert answer_from_quoted(system, "how many gulls did the keeper count") == (
        f'From the attached documents: "{PLANTED}" (report.pdf, page 2).'
    )
    assert answer_from_quoted("You are Skeptic. Gulls and keepers.", "gulls") is None
