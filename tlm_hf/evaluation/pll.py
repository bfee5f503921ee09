"""Pseudo-log-likelihood (PLL) of sentences under a masked language model, batched.

A masked LM gives no probability to a sentence, but it can score one (Salazar et al., "Masked Language Model
Scoring", ACL 2020): mask each token in turn and add the log-probability of the true token. With a small
WordPiece vocabulary most words split into pieces, and a piece is easy to guess while the word's other pieces
are visible, so plain PLL over-rates long, multi-piece words. The `word-l2r` variant (Kauf & Ivanova 2023,
"PLL-word-l2r") also masks the pieces of the same word to the right of the scored one.

Every masked copy of a sentence carries exactly one label, so the model's sparse MLM head returns one row of
logits per copy; many sentences' copies go through one padded forward. Sentences are sorted by length first,
which keeps the padding small; the attention mask makes the score independent of the batch it was in.
"""

import torch

from ..errors import SettingsError

VARIANTS = ("word-l2r", "original")
DEFAULT_VARIANT = "word-l2r"


def check_scorable(model) -> None:
    """Refuse, in one line, a model this scorer cannot read (a byte-level model predicts bytes, not token ids)."""
    if getattr(model.config, "input_mode", "tokens") == "bytes":
        raise SettingsError(
            "this is a byte-level model (input_mode='bytes'), whose MLM predicts a token's bytes; pseudo-log-likelihood "
            "scoring supports token-level models only: score a model pre-trained with input_mode='tokens'"
        )


def masked_copies(input_ids: list[int], word_ids: list[int | None], mask_token_id: int, variant: str = DEFAULT_VARIANT):
    """One (masked input_ids, scored position) per real token of one tokenised sentence.

    `word_ids` (None at special tokens) say which word a piece belongs to; `word-l2r` masks the scored piece and
    the later pieces of its word, `original` the scored piece alone.
    """
    if variant not in VARIANTS:
        raise SettingsError(f"unknown PLL variant {variant!r}; use one of {', '.join(VARIANTS)}")
    copies = []
    for position, word in enumerate(word_ids):
        if word is None:
            continue
        masked = list(input_ids)
        masked[position] = mask_token_id
        if variant == "word-l2r":
            for later in range(position + 1, len(word_ids)):
                if word_ids[later] != word:
                    break
                masked[later] = mask_token_id
        copies.append((masked, position))
    return copies


def tokenize_sentences(tokenizer, sentences: list[str], max_length: int) -> list[tuple[list[int], list]]:
    """(input_ids with [CLS] ... [SEP], word id per position) of each sentence, truncated at `max_length`."""
    if not getattr(tokenizer, "is_fast", False):
        raise SettingsError("PLL scoring needs a fast tokenizer (it reads word ids); load the model's tokenizer "
                            "with AutoTokenizer")
    encoded = tokenizer(list(sentences), truncation=True, max_length=max_length, return_attention_mask=False,
                        return_token_type_ids=False)
    return [(ids, encoded.word_ids(i)) for i, ids in enumerate(encoded["input_ids"])]


@torch.inference_mode()
def pseudo_log_likelihoods(model, tokenizer, sentences: list[str], *, variant: str = DEFAULT_VARIANT,
                           batch_size: int = 16) -> list[float]:
    """The PLL (natural log) of each sentence: the sum over its tokens of log p(token | the sentence with that
    token, and for `word-l2r` the rest of its word, masked). `batch_size` sentences (all their masked copies)
    share one forward; the result does not depend on it beyond float rounding. A sentence without tokens scores 0."""
    check_scorable(model)
    if batch_size < 1:
        raise SettingsError(f"batch_size must be at least 1, got {batch_size}")
    max_length = model.config.max_position_embeddings
    encoded = tokenize_sentences(tokenizer, sentences, max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(sentences)), key=lambda i: len(encoded[i][0]))
    scores = torch.zeros(len(sentences), dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            rows, positions, owners = [], [], []
            for index in chunk:
                for masked, position in masked_copies(*encoded[index], tokenizer.mask_token_id, variant):
                    rows.append(masked)
                    positions.append(position)
                    owners.append(index)
            if not rows:
                continue
            width = max(len(row) for row in rows)
            input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, row in enumerate(rows):
                input_ids[r, : len(row)] = torch.tensor(row)
                attention_mask[r, : len(row)] = 1
            targets = torch.tensor([encoded[i][0][p] for i, p in zip(owners, positions)])
            labels = torch.full_like(input_ids, -100)
            labels[torch.arange(len(rows)), torch.tensor(positions)] = targets
            device = model.device
            # One label per row: ConvBert's sparse head returns one row of logits per masked copy, in row order;
            # other masked LMs (e.g. BertForMaskedLM) return every position's, of which the scored one is taken.
            logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                           labels=labels.to(device)).logits
            if logits.dim() == 3:
                logits = logits[torch.arange(len(rows), device=device), torch.tensor(positions, device=device)]
            log_probs = logits.float().log_softmax(-1).gather(1, targets.to(device)[:, None]).squeeze(1)
            scores.index_add_(0, torch.tensor(owners), log_probs.double().cpu())
    finally:
        model.train(was_training)
    return scores.tolist()
