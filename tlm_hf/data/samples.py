"""The real-data sample bundled with the package, named `sample:<name>` wherever a corpus, task file or
tokenizer is expected (its README says what it holds and under which licences)."""

from pathlib import Path

from ..errors import MissingFileError

SAMPLES = Path(__file__).with_name("samples")
SAMPLE_FILES = {
    "wikitext2": "wikitext2.jsonl.gz",
    "dbpedia_14": "dbpedia_14.jsonl.gz",
    "bert-base-uncased": "bert-base-uncased",
    "blimp": "blimp.jsonl.gz",
}
PREFIX = "sample:"


def resolve_sample(source):
    """The bundled path of `sample:<name>`; anything else unchanged."""
    if not isinstance(source, str) or not source.startswith(PREFIX):
        return source
    name = source[len(PREFIX):]
    if name not in SAMPLE_FILES:
        raise MissingFileError(
            f"no bundled sample {name!r}; use one of {', '.join(PREFIX + n for n in SAMPLE_FILES)}"
        )
    return str(SAMPLES / SAMPLE_FILES[name])
