"""Write messy.csv: a contacts export as real files come, with the fate of each row in `expect`.

Windows-1252, a header with stray spaces and a trailing empty column, CRLF and LF mixed, blank
lines, duplicates inside the file, bad rows. `expect` is imported, warned (imported without
its bad address) or rejected:<start of the reason>; empty on a row that repeats an earlier one
(merged, so it must not differ from it). Run it to rebuild the fixture.
"""

from pathlib import Path

HEADER = " E-Mail ; Phone Number ;First Name ; Last Name;City;expect;"
ROWS = [
    "ann@example.com;+1 415 555 0101;Ann;Lee;Paris;imported;",
    "bob@example.com;(415) 555-0102;Bob;Stone;Rome;imported;",
    "zoe@example.com;;Zoë;Müller;Zürich;imported;",
    "rene@example.com;;Renée;Dupré;Saint-Étienne;imported;",
    "ANN@EXAMPLE.COM ;;Ann;;;;",
    "carl@example.com;+14155550101;Carl;Berg;Oslo;rejected:phone +14155550101 is already on line 2;",  # noqa: E501
    "dave(at)example.com;;Dave;;;rejected:email 'dave(at)example.com' is not valid;",
    "eve@;+14155550105;Eve;Adams;;warned:imported without its email;",
    "frank@example.com;555-01;Frank;;;warned:imported without its phone;",
    "",
    ";;;;;;",
    "gina@example.com;;Gina;;\"Line one\r\nLine two\";imported;",
    "=HYPERLINK(\"http://evil\");;Mallory;;;rejected:email '=HYPERLINK(\"http://evil\")' is not valid;",  # noqa: E501
    "greg@example.com;;Gr\x00eg;;;rejected:first_name contains a NUL byte;",
    "hal@example.com;;Hal;;;rejected:has 7 fields but the header has 6;extra",
    "bob@example.com;;Robert;;;rejected:repeats line 3 with a different first_name;",
    ";+14155550120;Pat;;;imported;",
    ";415.555.0120;Pat;;;;",
    ";;Nobody;;;rejected:has neither an email nor a phone;",
    "ivy@example.com;+14155550121;Ivy;\"O'Neil; Jr\";;imported;",
    "jon@example.com;+14155550121;Jon;;;rejected:phone +14155550121 is already on line 22;",
    "kim@example.com;;Kim;;Köln;imported;",
    "Kim@Example.com;;;;Köln;;",
    "lea@example.com;;Léa;;Paris;imported;",
    "lea@example.com;;Léa;;Lyon;rejected:repeats line 26 with a different city;",
    "max@example.com;+999 1234;Max;;;warned:imported without its phone;",
    "ned@example.com;;Ned\tTab;;;rejected:first_name contains a control character;",
    "\"quoted@example.com\";\"+14155550130\";\"Quinn\";\"\";\"\";imported;",
] + [f"user{i:02d}@example{i % 3}.com;+1415555{1000 + i};User{i};Test;City{i % 4};imported;"
     for i in range(22)]


def main() -> None:
    lines = [HEADER, *ROWS]
    # Mixed line endings, as files edited on two systems have: CRLF mostly, LF every third.
    text = "".join(line + ("\n" if index % 3 == 0 else "\r\n") for index, line in enumerate(lines))
    Path(__file__).with_name("messy.csv").write_bytes(text.encode("cp1252"))


if __name__ == "__main__":
    main()
