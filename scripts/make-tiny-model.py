#!/usr/bin/python3
"""Writes test/fixtures/tiny-model/: a random-weight one-layer BERT sentence-transformer laid out
the way transformers.js loads a local model, so that tests exercise the real loading and inference
path (tokenizer.json, config.json, onnx/model.onnx through onnxruntime-node) without any download.

    apt-get install -y python3-onnx python3-numpy    # Debian's packages; nothing from PyPI
    /usr/bin/python3 scripts/make-tiny-model.py [OUT_DIR]

The weights are random (numpy seed SEED), so the vectors carry no meaning; what the tests check
is shapes, unit norm, determinism, padding invariance and pooling, which do not need meaning.
Same numpy and onnx versions -> the same bytes on every run; the fixture is committed, so tests
never need python.

The graph is BERT's (Devlin et al. 2019, and Hugging Face's BertModel), post-LayerNorm:

    x   = LN(word[input_ids] + pos[0..S) + type[token_type_ids])
    a   = softmax(Q K^T / sqrt(d_head) + (1 - mask) * -1e4) V        per head, then concatenated
    x   = LN(x + a W_o + b_o)
    x   = LN(x + gelu(x W_1 + b_1) W_2 + b_2)                         gelu with erf, as BERT
    out = last_hidden_state = x                                       [batch, seq, hidden]

Sizes (HIDDEN 32, 2 heads, INTERMEDIATE 64, MAX_POSITIONS 128, a vocabulary of a few hundred
wordpieces) keep the fixture under 100 KB. The vocabulary is [PAD] [UNK] [CLS] [SEP] [MASK],
then single characters and their ## continuations, so that every ASCII word has a wordpiece
spelling, then whole words common in news tweets.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 20261101
HIDDEN = 32
HEADS = 2
INTERMEDIATE = 64
MAX_POSITIONS = 128
TYPE_VOCAB = 2
LN_EPS = 1e-12
OPSET = 17  # LayerNormalization is a standard op from opset 17 on
IR_VERSION = 8  # what Debian's onnx 1.12 writes for opset 17; onnxruntime reads IR 3..10+

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ALNUM = list("abcdefghijklmnopqrstuvwxyz0123456789")
# BertPreTokenizer splits punctuation off as words of its own, so it needs no ## forms
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
WORDS = """
the a an and or but of to in on at for from by with about as is are was were be been being it
its this that these those there here not no yes all any some more most many much new old first
last next today tonight yesterday tomorrow now just after before over under up down out off into
near breaking news live update report reports says said video photo watch read via rt police
fire storm flood earthquake rain snow wind power outage road traffic crash train flight airport
city town state country world government president minister election vote votes poll team game
match win wins won lose lost final goal score season fans stadium music concert album song tour
movie film show star stars market stock stocks price prices bank money tax jobs company phone app
launch launches release apple google school students people man woman child children family
police officers killed dead injured hospital help support rescue emergency warning alert
evacuate evacuation closed open health virus covid vaccine strike protest protesters crowd street
love like good great best bad big small high low long short hot cold happy sad free time day
week year night morning hour hours minute minutes people's we you they he she i me my our your
their his her them us what who when where why how will can could would should may might
""".split()


def vocabulary():
    vocab = list(SPECIALS)
    seen = set(vocab)
    for piece in ALNUM + PUNCT + ["##" + c for c in ALNUM] + WORDS:
        if piece not in seen:
            seen.add(piece)
            vocab.append(piece)
    return vocab


def weights(rng, vocab_size):
    def normal(*shape, std=0.1):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ln(name):
        # gamma near 1, beta near 0, but not exactly: a test that pooled the wrong tensor
        # (before the last LayerNorm, say) would still get different numbers
        return {
            name + ".weight": (1 + normal(HIDDEN, std=0.05)).astype(np.float32),
            name + ".bias": normal(HIDDEN, std=0.05),
        }

    w = {
        # word embeddings at std 1 so that texts differ clearly after LayerNorm
        "embeddings.word_embeddings.weight": normal(vocab_size, HIDDEN, std=1.0),
        "embeddings.position_embeddings.weight": normal(MAX_POSITIONS, HIDDEN, std=0.1),
        "embeddings.token_type_embeddings.weight": normal(TYPE_VOCAB, HIDDEN, std=0.1),
    }
    w.update(ln("embeddings.LayerNorm"))
    for part in ("query", "key", "value"):
        w[f"attention.{part}.weight"] = normal(HIDDEN, HIDDEN, std=0.3)
        w[f"attention.{part}.bias"] = normal(HIDDEN, std=0.05)
    w["attention.output.weight"] = normal(HIDDEN, HIDDEN, std=0.2)
    w["attention.output.bias"] = normal(HIDDEN, std=0.05)
    w.update(ln("attention.LayerNorm"))
    w["intermediate.weight"] = normal(HIDDEN, INTERMEDIATE, std=0.2)
    w["intermediate.bias"] = normal(INTERMEDIATE, std=0.05)
    w["output.weight"] = normal(INTERMEDIATE, HIDDEN, std=0.2)
    w["output.bias"] = normal(HIDDEN, std=0.05)
    w.update(ln("output.LayerNorm"))
    return w


def graph(w):
    nodes = []
    inits = [numpy_helper.from_array(v, name=k) for k, v in w.items()]

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name=name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def layer_norm(x, prefix, out):
        return node("LayerNormalization", [x, prefix + ".weight", prefix + ".bias"], out, axis=-1, epsilon=LN_EPS)

    def dense(x, prefix, out):
        return node("Add", [node("MatMul", [x, prefix + ".weight"], out + ".mm"), prefix + ".bias"], out)

    head_dim = HIDDEN // HEADS
    const("c.one_i", np.array(1, dtype=np.int64))
    const("c.zero_i", np.array(0, dtype=np.int64))
    const("c.one_f", np.array(1.0, dtype=np.float32))
    const("c.neg", np.array(-10000.0, dtype=np.float32))
    const("c.mask_axes", np.array([1, 2], dtype=np.int64))
    const("c.heads_shape", np.array([0, 0, HEADS, head_dim], dtype=np.int64))
    const("c.hidden_shape", np.array([0, 0, HIDDEN], dtype=np.int64))
    const("c.scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    const("c.sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))
    const("c.half", np.array(0.5, dtype=np.float32))

    # embeddings
    words = node("Gather", ["embeddings.word_embeddings.weight", "input_ids"], "emb.words", axis=0)
    seq = node("Gather", [node("Shape", ["input_ids"], "emb.shape"), "c.one_i"], "emb.seq", axis=0)
    positions = node("Range", ["c.zero_i", seq, "c.one_i"], "emb.positions")
    pos = node("Gather", ["embeddings.position_embeddings.weight", positions], "emb.pos", axis=0)
    types = node("Gather", ["embeddings.token_type_embeddings.weight", "token_type_ids"], "emb.types", axis=0)
    summed = node("Add", [node("Add", [words, pos], "emb.words_pos"), types], "emb.sum")
    x = layer_norm(summed, "embeddings.LayerNorm", "emb.out")

    # additive attention mask [batch, 1, 1, seq]: 0 where attended, -1e4 at padding
    mask_f = node("Cast", ["attention_mask"], "mask.f", to=TensorProto.FLOAT)
    inverted = node("Sub", ["c.one_f", mask_f], "mask.inv")
    additive = node("Mul", [inverted, "c.neg"], "mask.add")
    mask4 = node("Unsqueeze", [additive, "c.mask_axes"], "mask.4d")

    def heads(t, name):
        reshaped = node("Reshape", [t, "c.heads_shape"], name + ".r")
        return node("Transpose", [reshaped], name + ".t", perm=[0, 2, 1, 3])  # [b, h, s, d]

    q = heads(dense(x, "attention.query", "att.q"), "att.qh")
    k = heads(dense(x, "attention.key", "att.k"), "att.kh")
    v = heads(dense(x, "attention.value", "att.v"), "att.vh")
    kt = node("Transpose", [k], "att.kt", perm=[0, 1, 3, 2])
    scores = node("Mul", [node("MatMul", [q, kt], "att.qk"), "c.scale"], "att.scaled")
    probs = node("Softmax", [node("Add", [scores, mask4], "att.masked")], "att.probs", axis=-1)
    context = node("Transpose", [node("MatMul", [probs, v], "att.ctx")], "att.ctx_t", perm=[0, 2, 1, 3])
    merged = node("Reshape", [context, "c.hidden_shape"], "att.merged")
    attended = dense(merged, "attention.output", "att.out")
    x = layer_norm(node("Add", [x, attended], "att.residual"), "attention.LayerNorm", "att.ln")

    # feed-forward with erf gelu: 0.5 h (1 + erf(h / sqrt 2))
    h = dense(x, "intermediate", "ffn.h")
    erf = node("Erf", [node("Div", [h, "c.sqrt2"], "ffn.scaled")], "ffn.erf")
    gelu = node("Mul", [node("Mul", [h, "c.half"], "ffn.half"), node("Add", [erf, "c.one_f"], "ffn.erf1")], "ffn.gelu")
    out = dense(gelu, "output", "ffn.out")
    layer_norm(node("Add", [x, out], "ffn.residual"), "output.LayerNorm", "last_hidden_state")

    ids = ["batch_size", "sequence_length"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ids) for n in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ids + [HIDDEN])]
    return helper.make_graph(nodes, "tiny_bert", inputs, outputs, inits)


def tokenizer_json(vocab):
    ids = {piece: i for i, piece in enumerate(vocab)}
    specials = [
        {"id": ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        for t in SPECIALS
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": specials,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 1}},
            ],
            "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": ids},
    }


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False, sort_keys=False)
        f.write("\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "test", "fixtures", "tiny-model")
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)

    vocab = vocabulary()
    rng = np.random.default_rng(SEED)
    model = helper.make_model(
        graph(weights(rng, len(vocab))),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="birdie scripts/make-tiny-model.py",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.path.join(out, "onnx", "model.onnx"))

    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    write_json(os.path.join(out, "tokenizer.json"), tokenizer_json(vocab))
    special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
    write_json(os.path.join(out, "special_tokens_map.json"), special)
    write_json(
        os.path.join(out, "tokenizer_config.json"),
        {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": MAX_POSITIONS, "clean_up_tokenization_spaces": True, **special},
    )
    write_json(
        os.path.join(out, "config.json"),
        {
            "_name_or_path": "birdie-tiny-bert",
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": len(vocab),
            "hidden_size": HIDDEN,
            "num_hidden_layers": 1,
            "num_attention_heads": HEADS,
            "intermediate_size": INTERMEDIATE,
            "hidden_act": "gelu",
            "max_position_embeddings": MAX_POSITIONS,
            "type_vocab_size": TYPE_VOCAB,
            "layer_norm_eps": LN_EPS,
            "pad_token_id": 0,
            "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0,
            "initializer_range": 0.02,
            "position_embedding_type": "absolute",
        },
    )
    # sentence-transformers' own files: mean pooling over the attention mask, and the sequence
    # length it truncates to
    write_json(
        os.path.join(out, "1_Pooling", "config.json"),
        {"word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False},
    )
    write_json(os.path.join(out, "sentence_bert_config.json"), {"max_seq_length": MAX_POSITIONS, "do_lower_case": False})
    write_json(
        os.path.join(out, "modules.json"),
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"wrote {out}: vocabulary {len(vocab)}, hidden {HIDDEN}, {total / 1024:.0f} KB")


if __name__ == "__main__":
    main()
