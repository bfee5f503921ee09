"""Write the small real-data sample bundled in tlm_hf/data/samples/ from the team's mirror (../shared/data).

    python train/make_samples.py --shared_data ../shared/data

The sample lets the README's main command and the tests run on a fresh clone with no data folder and no Hub:
WikiText-2 paragraphs (CC BY-SA), DBpedia-14 rows (CC BY-SA), BLiMP minimal pairs (100 per paradigm) with the
published models' BLiMP scores (CC BY 4.0), and the bert-base-uncased vocabulary (Apache-2.0); AG News is not
bundled (its licence is for research and non-commercial use). Rows are drawn by seed 0 and keep their order in
the source; the files are gzip with a fixed time stamp, so the output is the same on every run.
"""

import argparse
import gzip
import json
import shutil
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[1] / "tlm_hf" / "data" / "samples"
WIKITEXT = {"train": 10_000, "valid": 1_000}  # paragraphs per WikiText-2 split
DBPEDIA_PER_LABEL = 300
BLIMP_PER_PARADIGM = 100  # minimal pairs per BLiMP paradigm (67 paradigms)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--shared_data", type=Path, default=Path("../shared/data"))
args = parser.parse_args()


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))
    print(f"{path.name}: {len(rows):,} rows, {path.stat().st_size:,} bytes")


def sample(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), n, replace=False))
    return [rows[i] for i in keep]


paragraphs = read_jsonl(args.shared_data / "wikitext2" / "paragraphs.jsonl.gz")
write_jsonl(SAMPLES / "wikitext2.jsonl.gz",
            [row for split, n in WIKITEXT.items() for row in sample([r for r in paragraphs if r["split"] == split], n)])

dbpedia = read_jsonl(args.shared_data / "dbpedia_14" / "dhim_subset_10k.jsonl.gz")
chosen = [row for label in range(14) for row in sample([r for r in dbpedia if r["label"] == label], DBPEDIA_PER_LABEL)]
write_jsonl(SAMPLES / "dbpedia_14.jsonl.gz", sorted(chosen, key=dbpedia.index))

blimp = read_jsonl(args.shared_data / "blimp" / "blimp.jsonl.gz")
write_jsonl(SAMPLES / "blimp.jsonl.gz", [row for uid in dict.fromkeys(r["UID"] for r in blimp)
                                         for row in sample([r for r in blimp if r["UID"] == uid], BLIMP_PER_PARADIGM)])
shutil.copy(args.shared_data / "blimp" / "published_models_summary.jsonl", SAMPLES / "blimp_published.jsonl")

tokenizer = SAMPLES / "bert-base-uncased"
tokenizer.mkdir(exist_ok=True)
for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
    shutil.copy(args.shared_data / "bert-base-uncased" / name, tokenizer / name)
print(f"total {sum(f.stat().st_size for f in SAMPLES.rglob('*') if f.is_file()):,} bytes")
