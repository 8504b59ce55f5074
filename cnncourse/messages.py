"""Results in the reader's language: the sentences a run prints, in 简体中文.

Design (why translate the printed text, not the print calls). The course has one
source for both languages, and the Chinese book is built from the English
book's execution cache: its outputs ARE the English run's text, printed by
f-strings in the chapters and in this package. So the translation has to work on
that text. This module keeps one catalogue of the printed sentences -- each an
English ``str.format`` template of exactly what is printed, and its Chinese --
and recognises a printed line by its template, carrying the numbers over:

* the Chinese book: ``tools/lang_switch.py`` rewrites each cell output through
  :func:`translate` when it builds the zh_CN pages (no chapter runs again);
* the Chinese notebooks: their setup cell calls :func:`install`, which passes
  everything the notebook prints through :func:`translate` as it is printed.

Nothing changes for English: no print site was touched, and English output is
byte for byte what it was. A sentence whose English print changes simply stops
matching and appears in English until its template here is updated (the tests
check the catalogue against the chapters' outputs). Tables of numbers and the
figures stay as they are: their words are column labels, read with the prose.
"""
from __future__ import annotations

import io
import os
import re
import string
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

ENV_VAR = "CNNCOURSE_LANG"
LANGUAGES = ("en", "zh_CN")

# Fashion-MNIST's classes, as cnncourse.data names them (glossary: book/zh_CN/glossary.md).
CLASS_NAMES_ZH = {
    "t-shirt": "T恤", "trouser": "裤子", "pullover": "套衫", "dress": "连衣裙", "coat": "外套",
    "sandal": "凉鞋", "shirt": "衬衫", "sneaker": "运动鞋", "bag": "包", "ankle boot": "短靴",
}


@dataclass(frozen=True)
class Message:
    """One printed sentence: the English template exactly as printed, and its Chinese.

    ``values`` translates fields whose values are words (``{"which": {"ahead": "领先"}}``);
    ``wrap`` is the width of ``textwrap.fill`` for sentences printed wrapped: the English then
    matches across its line breaks.
    """
    en: str
    zh: str
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    wrap: int = 0

    @cached_property
    def pattern(self) -> re.Pattern:
        """The English as a regular expression: one line (or, if wrapped, the joined lines)."""
        parts = []
        for literal, name, _spec, _conv in string.Formatter().parse(self.en):
            parts.append(re.escape(literal))
            if name:
                known = sorted(self.values.get(name, {}), key=len, reverse=True)
                words = "".join(f"[ ]*{re.escape(k)}[ ]*|" for k in known)  # known words first
                parts.append(rf"(?P<{name}>{words}.+?)")
        return re.compile(r"^" + "".join(parts) + r"$", re.M)

    def render(self, m: re.Match) -> str:
        fields = {}
        for name, value in m.groupdict().items():
            words = value.strip()
            if words in self.values.get(name, {}):
                value = _same_width(value, words, self.values[name][words])
            fields[name] = value
        return self.zh.format_map(fields)

    def rewrap(self, lines: list[str]) -> list[str] | None:
        """The Chinese of the lines that ``textwrap.fill(english, wrap)`` printed, else None.

        The Chinese is one line: it has no spaces to break at, and both the book and Jupyter
        wrap long output lines themselves.
        """
        for size in range(1, len(lines) + 1):  # the fewest lines: a field never eats a line
            for start in range(len(lines) - size + 1):
                run = lines[start:start + size]
                if any(len(line) > self.wrap for line in run):
                    continue  # textwrap.fill never prints a longer line
                m = self.pattern.fullmatch(" ".join(run))
                if m:
                    rest = lines[start + size:]
                    return lines[:start] + [self.render(m)] + (self.rewrap(rest) or rest)
        return None


def _width(text: str) -> int:
    """Columns a monospaced font gives ``text`` (a CJK character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _same_width(padded: str, words: str, translation: str) -> str:
    """``translation`` padded like ``words`` was in ``padded``, to the same number of columns."""
    if padded == words:
        return translation
    fill = " " * max(_width(padded) - _width(translation), 0)
    return fill + translation if padded.startswith(" ") else translation + fill


M = Message
_WHICH = {"ahead": "领先", "behind": "落后", "level": "持平"}

# Longest first where one template could match inside another's line.
CATALOGUE: list[Message] = [
    # ---- cnncourse.train_ch6 and its progress reporting
    M("training on {device} (budget: {budget})", "在 {device} 上训练（预算：{budget}）"),
    M("epoch {epoch}: loss {loss}, train acc {train}, test acc {test}",
      "第 {epoch} 轮：损失 {loss}，训练准确率 {train}，测试准确率 {test}"),
    M("loss {loss}, train acc {train}, test acc {test}",
      "损失 {loss}，训练准确率 {train}，测试准确率 {test}"),
    M("{rate} examples/sec on {device}", "{rate} 样本/秒，设备 {device}"),
    M("interrupted: returning the {n} finished epoch(s)", "已中断：返回已完成的 {n} 轮"),
    M("{s} s per epoch (budget: {budget}, {device})", "每轮 {s} 秒（预算：{budget}，{device}）"),
    # ---- the opening line of every chapter
    M("budget: {budget}, device: {device}, torch {version}",
      "预算：{budget}，设备：{device}，torch {version}"),
    M("budget: {budget}, device: {device}, PyTorch {version}",
      "预算：{budget}，设备：{device}，PyTorch {version}"),
    M("budget: {budget}, device: {device}, {n} epochs of batch {batch} each",
      "预算：{budget}，设备：{device}，每个模型 {n} 轮，批量大小 {batch}"),
    M("budget: {budget}, device: {device}, {n} epochs each",
      "预算：{budget}，设备：{device}，每个 {n} 轮"),
    M("budget: {budget}, device: {device}", "预算：{budget}，设备：{device}"),
    M("device: {device}, budget: {budget}", "设备：{device}，预算：{budget}"),
    M("budget: {budget}", "预算：{budget}"),
    # ---- data
    M("fit on {fit}, validate on {valid}, test on {test} images",
      "用 {fit} 张图像拟合，{valid} 张验证，{test} 张测试"),
    M("pixel values from {lo} to {hi} | mean {mean}", "像素值从 {lo} 到 {hi} | 均值 {mean}"),
    M("The tensor-resident loader serves batches {x}x as fast as\n"
      "the best per-image pipeline on this machine.",
      "在这台机器上，常驻张量的加载器供给批量的速度是最好的逐图像流水线的 {x} 倍。"),
    # ---- mlp_limits (printed wrapped at 70 columns)
    M("The one-hidden-layer MLP has {x}x the parameters of the small CNN.",
      "单隐藏层的多层感知机的参数量是小型卷积神经网络的 {x} 倍。", wrap=70),
    M("{model}: {orig}% on the original images, {perm}% on the permuted ones ({change} points).",
      "{model}：原始图像上 {orig}%，像素打乱后的图像上 {perm}%（变化 {change} 个百分点）。",
      wrap=70),
    M("CNN minus MLP: {orig} points on the original images, {perm} points on the permuted ones.",
      "卷积神经网络减去多层感知机：原始图像上 {orig} 个百分点，打乱后的图像上 {perm} 个百分点。",
      wrap=70),
    M("{model}: {s0}% unshifted, {s2}% at 2 pixels, {s4}% at 4 pixels.",
      "{model}：不平移 {s0}%，平移 2 个像素 {s2}%，平移 4 个像素 {s4}%。", wrap=70),
    M("Clearly above chance (10%) at one learning rate at least: {nets}.",
      "至少在一个学习率下明显高于随机猜测（10%）的：{nets}。",
      values={"nets": {"none of the four": "四个都没有"}}, wrap=70),
    # ---- lenet
    M("{train} training, {test} test images; {epochs} epochs of batch {batch}",
      "{train} 张训练图像，{test} 张测试图像；{epochs} 轮，批量大小 {batch}"),
    M("test accuracy: {acc} here, {src} in the source: {diff} points ({budget} budget, "
      "{epochs} epochs)",
      "测试准确率：本页 {acc}，资料中 {src}：相差 {diff} 个百分点（{budget} 预算，{epochs} 轮）"),
    M("  test acc by epoch: {accs}", "  各轮测试准确率：{accs}"),
    M("{name}test acc {acc} after {epochs} epochs, {s} s",
      "{name}训练 {epochs} 轮后测试准确率 {acc}，{s} 秒"),
    M("{a} <-> {b} {n} test images", "{a} <-> {b} {n} 张测试图像",
      values={"a": CLASS_NAMES_ZH, "b": CLASS_NAMES_ZH}),
    M("saved {n} tensors, {kib} KiB: {names}", "保存了 {n} 个张量，{kib} KiB：{names}"),
    M("test accuracy: saved model {a}, loaded copy {b}",
      "测试准确率：保存的模型 {a}，加载的副本 {b}"),
    # ---- cross_entropy
    M("shirts (class 6): median prediction {m}", "衬衫（类别 6）：预测值的中位数 {m}"),
    M("  rounded to 6 (shirt): {p}", "  四舍五入为 6（衬衫）：{p}"),
    M("  rounded to 3 (dress) or 4 (coat): {p}", "  四舍五入为 3（连衣裙）或 4（外套）：{p}"),
    M("test predictions > 0.25 away from every class index: {p}",
      "与每个类别编号都相差 0.25 以上的测试预测：{p}"),
    M("In this run ({budget} budget) the median shirt lands at {m}, between {lo} ({lo_name}) "
      "and {hi} ({hi_name}).",
      "在这次运行中（{budget} 预算），衬衫预测值的中位数落在 {m}，介于 {lo}（{lo_name}）"
      "和 {hi}（{hi_name}）之间。",
      values={"lo_name": CLASS_NAMES_ZH, "hi_name": CLASS_NAMES_ZH}),
    M("box {box}: likelihood P(blue|{b2}) = {lik}, posterior P({b3}|blue) = {post}",
      "盒子 {box}：似然 P(蓝|{b2}) = {lik}，后验 P({b3}|蓝) = {post}"),
    M("likelihood ratio B : A = {r}", "似然比 B : A = {r}"),
    M("square error minus cross-entropy: {d} points of test accuracy ({which} in this run)",
      "平方误差减去交叉熵：测试准确率相差 {d} 个百分点（这次运行中{which}）",
      values={"which": _WHICH}),
    # ---- alexnet
    M("dropout on  (training mode):   the two passes disagree on {p} of the test images",
      "开启丢弃法（训练模式）：两次前向传播在 {p} 的测试图像上结果不同"),
    M("dropout off (evaluation mode): the two passes disagree on {p}",
      "关闭丢弃法（评估模式）：两次前向传播结果不同的比例为 {p}"),
    M("(changes within ±{n} points count as noise)", "（±{n} 个百分点以内的变化算作噪声）"),
    M("estimate: largest batch within 14 of the 15 GB: about {n}",
      "估计：在 15 GB 中的 14 GB 以内，最大的批量约为 {n}"),
    M("Measured on {where} ({budget} budget): an epoch of the 224×224 model takes {big}, {x} "
      "times the {small} of AlexNet-28 on the same images.",
      "在{where}上测得（{budget} 预算）：224×224 的模型训练一轮需要 {big}，"
      "是 AlexNet-28 在同样图像上 {small} 的 {x} 倍。",
      values={"where": {"the CPU that built this page": "构建本页的 CPU "}}, wrap=76),
    M("An epoch of AlexNet at 224×224: {gpu_time} on the recorded {gpu}, {time} on {where} "
      "({budget} budget, {how}).",
      "224×224 的 AlexNet 训练一轮：在记录的 {gpu} 上 {gpu_time}，在{where}上 {time}"
      "（{budget} 预算，{how}）。",
      values={"where": {"the CPU that built this page": "构建本页的 CPU "},
              "how": {"measured": "实测", "extrapolated": "外推"}}),
    M("No GPU run has been recorded yet: this page shows no GPU results.",
      "还没有记录过 GPU 上的运行：本页不显示 GPU 结果。"),
    # ---- modern
    M("without batch norm, the first convolution's gradient is {x} times smaller than the "
      "output layer's;",
      "没有批量归一化时，第一个卷积层的梯度是输出层的 {x} 分之一；"),
    M("with batch norm it is {x} times larger than without", "有批量归一化时，它是没有时的 {x} 倍"),
    M("after epoch 1, without batch norm: at most {a} (chance: 0.10); with it: at least {b}",
      "第 1 轮之后，没有批量归一化：至多 {a}（随机猜测：0.10）；有批量归一化：至少 {b}"),
    M("evaluation mode: alone vs in the batch differ by {d}",
      "评估模式：单独输入与在批量中输入相差 {d}"),
]


def language() -> str:
    """The language results are printed in: ``CNNCOURSE_LANG``, else English."""
    lang = os.environ.get(ENV_VAR, "en").strip() or "en"
    if lang.replace("-", "_") not in LANGUAGES:
        raise ValueError(f"{ENV_VAR}={lang!r}: use one of {', '.join(LANGUAGES)} "
                         f"(or leave it unset for English)")
    return lang.replace("-", "_")


def translate(text: str, lang: str | None = None) -> str:
    """``text`` with every catalogued sentence in ``lang`` (default: :func:`language`)."""
    if (lang or language()) == "en":
        return text
    for message in CATALOGUE:
        if not message.wrap:
            text = message.pattern.sub(message.render, text)
    wrapped = [message for message in CATALOGUE if message.wrap]
    if wrapped:  # a wrapped sentence lies within one block of lines without a blank one
        blocks = re.split(r"(\n[ \t]*\n)", text)
        for i in range(0, len(blocks), 2):
            lines = blocks[i].split("\n")
            for message in wrapped:
                lines = message.rewrap(lines) or lines
            blocks[i] = "\n".join(lines)
        text = "".join(blocks)
    return text


class _TranslatingStream(io.TextIOBase):
    """A text stream that translates each completed print before passing it on."""

    def __init__(self, stream, lang: str):
        self._stream, self._lang, self._pending = stream, lang, ""

    def write(self, text: str) -> int:
        self._pending += text
        if self._pending.endswith("\n"):  # print() ends with its own write of end="\n"
            self._stream.write(translate(self._pending, self._lang))
            self._pending = ""
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(translate(self._pending, self._lang))
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name):  # encoding, isatty, fileno...: the wrapped stream's
        return getattr(self._stream, name)


def install(lang: str = "zh_CN") -> None:
    """Print results in ``lang`` from now on (what a Chinese notebook's setup cell calls)."""
    if lang.replace("-", "_") not in LANGUAGES:
        raise ValueError(f"install({lang!r}): use one of {', '.join(LANGUAGES)}")
    os.environ[ENV_VAR] = lang
    if isinstance(sys.stdout, _TranslatingStream):
        sys.stdout = sys.stdout._stream
    if lang != "en":
        sys.stdout = _TranslatingStream(sys.stdout, lang)
