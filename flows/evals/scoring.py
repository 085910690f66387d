"""The model side of the eval, with transformers + torch (imported inside the functions).

- `ref_nll`: per item, the mean negative log-likelihood (nats per token) of the reference answer's
  tokens given the instruction under the model's chat template, through its end-of-turn token.
  One forward pass per batch, no generation.
- `generate`: greedy answers to the `if_pass` prompts under the chat template, and whether each
  ended (end-of-turn token) before `max_new_tokens`.
- `mismatched`: the (instruction, reference) pairs with references rotated, for `ref_margin`.

A LoRA checkpoint is merged into its base in memory (`load_model(base, adapter=...)`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

IGNORE = -100
TOKEN_BUDGET = 4096  # padded tokens per NLL batch: bounds the logits tensor (tokens x vocab floats)


def device_name(device: str) -> str:
    import torch

    return "cuda" if device == "auto" and torch.cuda.is_available() else "cpu"


def load_model(model_path: Path, adapter: Path | None = None, device: str = "cpu") -> tuple[Any, Any]:
    """(model in eval mode, tokenizer); `adapter`: a peft LoRA folder merged into the base weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(adapter or model_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model.to(device_name(device)).eval(), tokenizer


def chat_prompt(tokenizer: Any, text: str) -> str:
    turns = [{"role": "user", "content": text}]
    return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)


def answer_ids(tokenizer: Any, instruction: str, reference: str) -> tuple[list[int], int]:
    """(token ids of prompt + answer, where the answer starts); the answer ends with the end-of-turn token."""
    prompt = chat_prompt(tokenizer, instruction)
    turns = [{"role": "user", "content": instruction}, {"role": "assistant", "content": reference}]
    full = tokenizer.apply_chat_template(turns, tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently when an answer follows it")
    head = tokenizer(prompt, add_special_tokens=False).input_ids
    tail = tokenizer(full[len(prompt) :], add_special_tokens=False).input_ids
    eos = tokenizer.eos_token_id
    if eos in tail:
        tail = tail[: tail.index(eos) + 1]  # through the end-of-turn marker, not the newline after it
    return head + tail, len(head)


def token_nll(logits: Any, labels: Any) -> tuple[Any, Any]:
    """Per sequence: the summed NLL of its labeled tokens and how many there are. logits[:, t] predicts
    labels[:, t + 1]; positions labeled IGNORE (prompt, padding) do not count."""
    import torch.nn.functional as F

    targets = labels[:, 1:]
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), targets, ignore_index=IGNORE, reduction="none")
    mask = targets != IGNORE
    return (nll * mask).sum(dim=1), mask.sum(dim=1)


def _batches(lengths: Sequence[int], budget: int) -> Iterator[list[int]]:
    """Indices grouped, longest first, so that each batch's padded size stays within `budget` tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for i in order:
        if batch and lengths[batch[0]] * (len(batch) + 1) > budget:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def ref_nll(model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], budget: int = TOKEN_BUDGET) -> list[float]:
    """Per (instruction, reference): mean NLL per reference token under `model`."""
    import torch

    encoded = [answer_ids(tokenizer, ins, ref) for ins, ref in pairs]
    out = [float("nan")] * len(pairs)
    for batch in _batches([len(ids) for ids, _ in encoded], budget):
        width = max(len(encoded[i][0]) for i in batch)
        ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        labels = torch.full((len(batch), width), IGNORE)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            seq, start = encoded[i]
            ids[row, : len(seq)] = torch.tensor(seq)
            labels[row, start : len(seq)] = torch.tensor(seq[start:])
            mask[row, : len(seq)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
        sums, counts = token_nll(logits, labels.to(model.device))
        for row, i in enumerate(batch):
            out[i] = float(sums[row] / counts[row])
    return out


def mismatched(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each instruction with the reference of the item half the suite away (another kind of task in a
    suite grouped by kind): how likely an answer that does not answer it is."""
    half = len(pairs) // 2 or 1
    return [(ins, pairs[(i + half) % len(pairs)][1]) for i, (ins, _) in enumerate(pairs)]


def generate(
    model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int, batch_size: int
) -> tuple[list[str], list[bool]]:
    """Greedy answers, one per prompt, under the chat template (batched, left-padded), and whether each
    ended with the end-of-turn token before `max_new_tokens`."""
    import torch

    texts = [chat_prompt(tokenizer, p) for p in prompts]
    out = [""] * len(texts)
    ended = [False] * len(texts)
    tokenizer.padding_side = "left"
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for first in range(0, len(order), batch_size):
        batch = order[first : first + batch_size]
        enc = tokenizer([texts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(
                **enc.to(model.device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=tokenizer.pad_token_id,
            )
        for row, i in enumerate(batch):
            new = gen[row, enc.input_ids.shape[1] :]
            out[i] = tokenizer.decode(new, skip_special_tokens=True).strip()
            ended[i] = bool((new == tokenizer.eos_token_id).any())
    return out, ended
