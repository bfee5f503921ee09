"""Train a small WordPiece vocabulary on the pre-training subset.

In BERT-1 the 30,522 x hidden embedding is the biggest weight; a vocabulary fitted to W_s
paragraphs shrinks it. The tokenizer keeps BERT's pipeline (lower-casing, punctuation
splitting, [CLS] ... [SEP]) and special tokens, so it drops into the same training code.
"""

from transformers import BertTokenizer, PreTrainedTokenizerFast

from .token_stats import as_texts


def train_wordpiece(
    texts,
    vocab_size: int,
    *,
    lowercase: bool = True,
    min_frequency: int = 2,
    batch_size: int = 1000,
    output_dir: str | None = None,
) -> PreTrainedTokenizerFast:
    """A BERT WordPiece tokenizer of at most `vocab_size` tokens trained on `texts`.

    texts: a Dataset with a `text` column or any sequence of strings. The five BERT special
    tokens come first ([PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4). With output_dir the
    tokenizer is also written there with `save_pretrained` (reload with AutoTokenizer).
    """
    data = as_texts(texts)
    if len(data) == 0:
        raise ValueError("no texts to train a tokenizer on; pass a non-empty subset")
    base = BertTokenizer(do_lower_case=lowercase)
    if vocab_size <= len(base):
        raise ValueError(f"vocab_size {vocab_size} leaves no room beside the {len(base)} special tokens; raise it")
    batches = (data[i : i + batch_size]["text"] for i in range(0, len(data), batch_size))
    tokenizer = base.train_new_from_iterator(batches, vocab_size, length=len(data), min_frequency=min_frequency)
    if output_dir is not None:
        tokenizer.save_pretrained(output_dir)
    return tokenizer
