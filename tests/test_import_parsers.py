import io

import pytest

from curator.importing.parsers import ImportFormatError, detect_format, parse


def rows(data: bytes, fmt: str, labels: set[str] | None = None) -> list:
    return list(parse(io.BytesIO(data), fmt, "text", labels))


def test_jsonl_rows_keep_their_line_numbers_and_labels():
    data = b'{"text": "good film", "label": "positive"}\n\n{"text": "bad film", "id": 7}\n'
    parsed = rows(data, "jsonl", {"positive", "negative"})
    assert [(r.line, r.payload, r.label) for r in parsed] == [
        (1, {"text": "good film"}, "positive"),
        (3, {"text": "bad film", "id": 7}, None),
    ]


def test_malformed_json_names_the_line():
    data = b'{"text": "ok"}\n{"text": "ok too"}\n{"text": broken}\n'
    with pytest.raises(ImportFormatError) as error:
        rows(data, "jsonl")
    assert error.value.line == 3
    assert "invalid JSON" in str(error.value)


def test_jsonl_line_that_is_not_an_object_is_refused():
    with pytest.raises(ImportFormatError, match=r"line 2: expected a JSON object, got list"):
        rows(b'{"text": "a"}\n["text"]\n', "jsonl")


def test_missing_text_field_is_refused():
    with pytest.raises(ImportFormatError, match=r"line 1: field 'text' is missing or empty"):
        rows(b'{"sentence": "a"}\n', "jsonl")


def test_label_outside_the_label_set_is_refused():
    with pytest.raises(ImportFormatError, match=r"line 2: label 'meh' is not one of"):
        rows(b'{"text": "a", "label": "positive"}\n{"text": "b", "label": "meh"}\n', "jsonl",
             {"positive", "negative"})  # fmt: skip


def test_invalid_utf8_names_the_line():
    with pytest.raises(ImportFormatError, match=r"line 2: not valid UTF-8"):
        rows(b'{"text": "a"}\n{"text": "\xff\xfe"}\n', "jsonl")


def test_binary_data_is_refused():
    with pytest.raises(ImportFormatError, match=r"line 2: binary data"):
        rows(b'{"text": "a"}\n\x00\x00\x00\rIHDR\x00\n', "jsonl")
    with pytest.raises(ImportFormatError, match=r"line 1: not valid UTF-8"):
        rows(b"\x89PNG\r\n\x1a\n", "jsonl")


def test_csv_with_quoted_commas_and_newlines_parses():
    data = b'text,label\n"great, truly great",positive\n"two\nlines",negative\n'
    parsed = rows(data, "csv", {"positive", "negative"})
    assert [(r.line, r.payload["text"], r.label) for r in parsed] == [
        (2, "great, truly great", "positive"),
        (4, "two\nlines", "negative"),
    ]


def test_csv_row_with_wrong_field_count_names_the_line():
    with pytest.raises(ImportFormatError, match=r"line 3: expected 2 fields, found 3"):
        rows(b"text,label\na,positive\nb,negative,extra\n", "csv")


def test_csv_without_text_column_is_refused():
    with pytest.raises(ImportFormatError, match=r"line 1: header has no 'text' column"):
        rows(b"sentence,label\na,positive\n", "csv")


def test_format_comes_from_the_file_name():
    assert detect_format("data.JSONL") == "jsonl"
    assert detect_format("export.csv") == "csv"
    with pytest.raises(ImportFormatError):
        detect_format("notes.txt")
