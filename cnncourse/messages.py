"""Results in the reader's language: the sentences a run prints, in 简体中文.

Design (why translate the printed text, not the print calls). The course has one
source for both languages, and the Chinese book is built from the English
book's execution cache: its outputs ARE the English run's text, printed by
f-strings in the chapters and in this package. So the translation has to work on
that text. This module keeps one catalogue of the printed sentences -- each an
English ``str.format`` template of exactly what is printed, and its Chinese --
and recognises a printed line by its template, carrying the numbers over:

* the Chinese book: ``bookfactory/lang_switch.py`` rewrites each cell output through
  :func:`translate` when it builds the zh_CN pages (no chapter runs again);
* the Chinese notebooks: their setup cell calls :func:`install`, which passes
  everything the notebook prints through :func:`translate` as it is printed.

Nothing changes for English: no print site was touched, and English output is
byte for byte what it was. A sentence whose English print changes simply stops
matching and appears in English until its template here is updated (the tests
check the catalogue against the chapters' outputs). Tables are translated too,
because the text reads them by column and row ("请看最后一列"): a ``d2l.Table``'s
caption, headers and row labels (:func:`translate_cell`; the notebook's table
asks :func:`language` when it is shown, the book rewrites the English build's
HTML with :func:`translate_table_html`), and the headers and row labels of tables
printed as text, each in its column (:func:`translate_columns`). The figures stay
as they are.
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
# The attribution methods of the interpret chapter (glossary: 解释网络).
METHODS_ZH = {"saliency": "显著图", "SmoothGrad": "SmoothGrad", "integrated gradients": "积分梯度",
              "occlusion": "遮挡", "Grad-CAM": "Grad-CAM"}
# Inputs of the input-scaling experiments (data, lenet).
SCALINGS_ZH = {"[0, 1] (as loaded)": "[0, 1]（加载时原样）",
               "[0, 1] (ToTensor)": "[0, 1]（ToTensor）",
               "centred only": "只中心化", "scaled only": "只缩放",
               "[-1, 1] (Paddle)": "[-1, 1]（Paddle）", "standardised": "标准化"}
# AlexNet's regularisation experiment: the runs and the verdict on each.
REGULARISERS_ZH = {"no dropout": "不用丢弃法", "+ weight decay (AdamW)": "+ 权重衰减（AdamW）",
                   "+ augmentation": "+ 数据增广",
                   "control: Adam's coupled L2": "对照：Adam 耦合的 L2"}
VERDICTS_ZH = {
    "no change beyond run-to-run noise": "变化没有超出运行间的噪声",
    "smaller gap, but lower test accuracy: it fits less, not better":
        "差距变小，但测试准确率降低：拟合得更少，而不是更好",
    "smaller gap, test accuracy held: less memorising": "差距变小，测试准确率保持：死记硬背得更少",
    "larger gap": "差距变大", "same gap": "差距不变",
    "larger gap, lower test accuracy": "差距变大，测试准确率降低",
    "larger gap, higher test accuracy": "差距变大，测试准确率提高",
    "same gap, lower test accuracy": "差距不变，测试准确率降低",
    "same gap, higher test accuracy": "差距不变，测试准确率提高",
}
# mlp_limits' deep networks, and its models
DEEP_NETS_ZH = {"sigmoid, default init": "sigmoid，默认初始化",
                "sigmoid, Xavier init": "sigmoid，Xavier 初始化",
                "ReLU, default init": "ReLU，默认初始化",
                "ReLU, Kaiming init": "ReLU，Kaiming 初始化",
                "tanh, Xavier init": "tanh，Xavier 初始化"}
MODELS_ZH = {"CNN, no pooling": "不带池化的 CNN"}
# cross_entropy's runs
LOSS_RUNS_ZH = {"square error, one-hot": "平方误差（独热）", "cross-entropy": "交叉熵",
                "regress the index": "回归类别编号"}
NETS_ZH = {"plain, default init": "普通，默认初始化", "plain, Kaiming init": "普通，Kaiming 初始化",
           "residual, default init": "残差，默认初始化", "plain": "普通", "residual": "残差"}

# The removal orders of interpret's deletion test (the methods, signed or by magnitude).
DELETION_ORDERS_ZH = {
    "brightest pixels": "最亮的像素", "random pixels": "随机像素",
    "gradient × input": "梯度 × 输入", "gradient × input, baseline 0.5": "梯度 × 输入，基线 0.5",
    "integrated gradients, baseline 0.5": "积分梯度，基线 0.5",
    "integrated gradients, by magnitude": "积分梯度，按绝对值",
    "occlusion, by magnitude": "遮挡，按绝对值", "occlusion, fill 0.5": "遮挡，填充值 0.5",
    "saliency, signed": "显著图，带符号",
}

@dataclass(frozen=True)
class Message:
    """One printed sentence: the English template exactly as printed, and its Chinese.

    ``values`` translates fields whose values are words (``{"which": {"ahead": "领先"}}``);
    ``items`` fields whose values are such words joined by ", " (a list of methods), each
    translated and joined by "、"; ``wrap`` is the width of ``textwrap.fill`` for sentences
    printed wrapped: the English then matches across its line breaks; ``columns`` names fields
    printed in a fixed-width column (``f"{name:26}"``), whose translation is padded to the
    English field's width even where the English filled it exactly.
    """
    en: str
    zh: str
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    wrap: int = 0
    items: dict[str, dict[str, str]] = field(default_factory=dict)
    columns: tuple[str, ...] = ()

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
                value = _same_width(value, words, self.values[name][words],
                                    column=name in self.columns)
            elif name in self.items:
                parts = _split_known(words, self.items[name])
                if parts:
                    value = "、".join(self.items[name][part] for part in parts)
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


def _split_known(text: str, known: dict[str, str]) -> list[str] | None:
    """``text`` read as known words joined by ", " (a word may hold ", " itself, as
    "ReLU, Kaiming init" does), else None."""
    parts: list[str] = []
    while text:
        word = next((k for k in sorted(known, key=len, reverse=True)
                     if text == k or text.startswith(k + ", ")), None)
        if word is None:
            return None
        parts.append(word)
        text = text[len(word) + 2:]
    return parts


def _width(text: str) -> int:
    """Columns a monospaced font gives ``text`` (a CJK character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _same_width(padded: str, words: str, translation: str, column: bool = False) -> str:
    """``translation`` padded like ``words`` was in ``padded``, to the same number of columns
    (a ``column`` field is padded on the right even where the English had no padding)."""
    if padded == words and not column:
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
    M("resumed from epoch {epoch} of {path}", "已从 {path} 恢复：前 {epoch} 轮已完成"),
    M("rank {rank}: SIGKILL in epoch {epoch}, batch {batch}",
      "第 {rank} 号进程：在第 {epoch} 轮第 {batch} 个批量时被 SIGKILL 终止"),
    # ---- lines the Chinese text points at, and the other sentences the chapters print (issue 27)
    M("budget: {budget}, device: {device}, {n} training images, SGD lr 0.9, batch {batch}, "
      "Xavier, seed {seed}",
      "预算：{budget}，设备：{device}，{n} 张训练图像，SGD 学习率 0.9，批量大小 {batch}，"
      "Xavier 初始化，随机种子 {seed}"),
    M("{name} test accuracy after epoch 1: {acc}", "{name} 第 1 轮后的测试准确率：{acc}",
      values={"name": SCALINGS_ZH}, columns=("name",)),
    M("{name} test acc {a} after epoch 1, {b} after {n}, {s} s",
      "{name} 第 1 轮后测试准确率 {a}，第 {n} 轮后 {b}，{s} 秒"),
    # alexnet
    M("{n} images at 224×224 (budget: {budget}, {device})",
      "{n} 张 224×224 的图像（预算：{budget}，{device}）"),
    M("10^6 units, training mode: {p} set to zero, mean {m}",
      "10^6 个单元，训练模式：{p} 被置零，均值 {m}"),
    M("{name}: strongest response {a} of {b}", "{name}：最强响应 {a}（全图最大 {b}）",
      values={"name": {"max pool 3×3, stride 2": "最大池化 3×3，步幅 2",
                       "avg pool 3×3, stride 2": "平均池化 3×3，步幅 2"}}),
    M("stride {s}: output {shape}, {g} GFLOPs per image",
      "步幅 {s}：输出 {shape}，每张图像 {g} GFLOPs"),
    M("conv2 on one GPU: {a} parameters; split: {b}",
      "conv2 放在一块 GPU 上：{a} 个参数；拆分后：{b}"),
    M("grouped conv == two separate halves: {v}", "分组卷积 == 分开的两半：{v}"),
    M("throughput: Adam steps of batch {b} on {device} (budget: {budget}), after two warm-up "
      "steps: {n28} timed for the 28×28 models, {n224} for the 224×224 one",
      "吞吐量：在 {device} 上以批量大小 {b} 执行 Adam 训练步（预算：{budget}），先预热两步，"
      "28×28 的模型计时 {n28} 步，224×224 的模型计时 {n224} 步"),
    M("224×224 vs 28×28: {p}× the pixels, {f}× the FLOPs per image, {a}× the activations;",
      "224×224 对 28×28：像素是 {p} 倍，每张图像的 FLOPs 是 {f} 倍，激活值是 {a} 倍；"),
    M("measured here, AlexNet-28 trains {x}× as many images per second",
      "本页实测：AlexNet-28 每秒训练的图像数是它的 {x} 倍"),
    M("published settings: {s}", "公布的设置：{s}"),
    M("budget {budget}:\n  AlexNet-28: {e1} epoch(s) on {n1} images\n"
      "  AlexNet at 224×224: {e2} epoch(s) on {n2} images",
      "预算 {budget}：\n  AlexNet-28：在 {n1} 张图像上训练 {e1} 轮\n"
      "  224×224 的 AlexNet：在 {n2} 张图像上训练 {e2} 轮"),
    M("{name}: {ms} ms per training image\n  a full epoch (60,000 train + 10,000 test images): "
      "{d},\n  {how}",
      "{name}：每张训练图像 {ms} 毫秒\n  完整的一轮（60,000 张训练图像 + 10,000 张测试图像）：{d}，"
      "\n  {how}",
      values={"how": {"measured": "实测"}}),
    M("  extrapolated from {n} images", "  由 {n} 张图像外推"),
    M("Recorded {date} on {device}, PyTorch {v}, commit {c},\nbf16 autocast: {a}, channels-last: "
      "{b}\ncommand: {cmd}\nsettings: {opt}, lr {lr}, batch {batch}, {e} epochs",
      "记录于 {date}，设备 {device}，PyTorch {v}，提交 {c}，\nbf16 自动混合精度：{a}，通道在后："
      "{b}\n命令：{cmd}\n设置：{opt}，学习率 {lr}，批量大小 {batch}，{e} 轮"),
    M("{name}: test acc {t}, train acc {r}\n  {s} s per epoch, {x} examples/s, peak GPU memory "
      "{m} (fp32 estimate {e} GB)",
      "{name}：测试准确率 {t}，训练准确率 {r}\n  每轮 {s} 秒，{x} 样本/秒，GPU 显存峰值 {m}"
      "（fp32 估算 {e} GB）"),
    M("This page just ran on {device} ({budget} budget): AlexNet at 224×224, {e} epoch(s) on "
      "{n} images, test acc {t}, {s} s per epoch, {x} examples/s, peak GPU memory {m}.",
      "本页刚刚在 {device} 上运行（{budget} 预算）：224×224 的 AlexNet，"
      "在 {n} 张图像上训练 {e} 轮，"
      "测试准确率 {t}，每轮 {s} 秒，{x} 样本/秒，GPU 显存峰值 {m}。"),
    M("{name} gap {g} points, train acc {t}, test acc {s}",
      "{name} 差距 {g} 个百分点，训练准确率 {t}，测试准确率 {s}", values={"name": REGULARISERS_ZH},
      columns=("name",)),
    M(" " * 28 + "-> {verdict}", " " * 28 + "-> {verdict}", values={"verdict": VERDICTS_ZH}),
    M("AdamW's decay over the whole run: each weight multiplied by {s} ({n} steps of 1 - {e})",
      "整个运行中 AdamW 的衰减：每个权重共乘以 {s}（{n} 步，每步乘以 1 - {e}）"),
    # conv_pool
    M("20 random cases, largest |corr2d - F.conv2d| = {x}",
      "20 个随机情形，|corr2d - F.conv2d| 的最大值 = {x}"),
    M("flipped Sobel kernel:", "翻转后的 Sobel 卷积核："),
    M("columns with a response to [1, -1]: {x}", "对 [1, -1] 有响应的列：{x}"),
    M("largest curvature {c}: divergence above lr = {d}; we use lr = {lr}",
      "最大曲率 {c}：学习率大于 {d} 时发散；我们用学习率 = {lr}"),
    M("largest entry error: {e}", "各元素的最大误差：{e}"),
    M("smallest curvature {c}, {x} times flatter than the steepest direction",
      "最小曲率 {c}，只有最陡方向曲率的 {x} 分之一"),
    M("{mode} pooling, gradient by hand:", "{mode}池化，手算的梯度：",
      values={"mode": {"max": "最大", "avg": "平均"}}),
    M("equal to autograd's: {v}", "与自动微分的结果相同：{v}"),
    M("{n} settings: {f} forward and {b} backward mismatches",
      "{n} 种设置：前向不一致 {f} 处，反向不一致 {b} 处"),
    M("relative change after a 1-pixel shift, by window size:",
      "平移 1 个像素后的相对变化，按窗口大小："),
    M("correlation of each first-layer map with:", "第一层每张特征图与下列各图的相关系数："),
    M("map {a} follows the body most closely ({c}); map {b} follows an edge map most, {d} ahead of "
      "its correlation with the body",
      "特征图 {a} 最贴近主体（{c}）；特征图 {b} 最贴近某张边缘图，比它与主体的相关系数高 {d}"),
    M("dK {s} equals autograd's: {v}", "dK {s} 与自动微分的结果相同：{v}"),
    M("dX {s} equals autograd's: {v}", "dX {s} 与自动微分的结果相同：{v}"),
    M("{n} settings: {a} input-gradient and {b} kernel-gradient mismatches",
      "{n} 种设置：输入梯度不一致 {a} 处，卷积核梯度不一致 {b} 处"),
    # cross_entropy
    M("naive softmax of {x}", "朴素 softmax 作用于 {x}"),
    M("       softmax of {x}", "       softmax 作用于 {x}"),
    M("finite differences {t}", "有限差分 {t}"),
    M("{name}: mean confidence {c} at accuracy {a} (confidence minus accuracy {d})",
      "{name}：平均置信度 {c}，准确率 {a}（置信度减准确率 {d}）",
      values={"name": LOSS_RUNS_ZH}),
    M("plain SGD, {n} training images, {e} epoch(s); test accuracy:",
      "普通 SGD，{n} 张训练图像，{e} 轮；测试准确率："),
    # data
    M("classes: {names}", "类别：{names}", items={"names": CLASS_NAMES_ZH}),
    M("examples per class (train): {x}", "每个类别的样本数（训练集）：{x}"),
    M("magic {m} (0x{h}): unsigned bytes, {d} dimensions", "魔数 {m}（0x{h}）：无符号字节，{d} 维"),
    M("{n} images of {h}x{w} pixels", "{n} 张 {h}x{w} 像素的图像"),
    M("first labels of two epochs: {a}", "两轮各自的前几个标签：{a}"),
    M("budget {b}: {n} images per pass, batch {batch}, one PyTorch thread per process",
      "预算 {b}：每遍 {n} 张图像，批量大小 {batch}，每个进程一个 PyTorch 线程"),
    M("{a} training batches, {b} test batches;{sep}one batch: {c}",
      "{a} 个训练批量，{b} 个测试批量；一个批量：{c}"),
    M("one batch: {x}", "一个批量：{x}"),
    M("training pixels ({n} images) on the [0, 1] scale: mean {m}, standard deviation {s}",
      "训练像素（{n} 张图像），在 [0, 1] 尺度上：均值 {m}，标准差 {s}"),
    M("{name} (x - {a}) / {b}: values in [{lo}, {hi}], mean {m}, standard deviation {s}",
      "{name} (x - {a}) / {b}：取值在 [{lo}, {hi}] 内，均值 {m}，标准差 {s}",
      values={"name": SCALINGS_ZH}, columns=("name",)),
    # interpret
    M("largest change of test accuracy in the last epoch at the full rate: {changes}",
      "按完整学习率训练的最后一轮中，测试准确率的最大变动：{changes}"),
    M("{n} test images; predicted correctly by the seed-{s} networks: {list}",
      "{n} 张测试图像；随机种子 {s} 的网络预测正确的比例：{list}"),
    M("linear model: largest |saliency - W[3]| = {x}",
      "线性模型：|saliency - W[3]| 的最大值 = {x}"),
    M("{name}: faster than removing the brightest pixels first: {methods}",
      "{name}：比先移除最亮的像素更快的方法：{methods}",
      items={"methods": {**METHODS_ZH, **DELETION_ORDERS_ZH}}),
    M("{name}: faster than removing the brightest pixels first: ",
      "{name}：没有哪种方法比先移除最亮的像素更快"),
    M("Grad-CAM, on its layer's grid: {a} for two true-label networks, {v} for a true- and a "
      "shuffled-label network: the memorising network's maps are {verdict}",
      "Grad-CAM（在其所在层的网格上）：两个真实标签网络之间为 {a}，一个真实标签网络与一个"
      "打乱标签网络之间为 {v}：记忆标签的网络的图{verdict}",
      values={"verdict": {"clearly less alike": "明显更不相像",
                          "not clearly less alike": "并没有明显更不相像"}}),
    M("of the way from saliency to gradient × input (fill 0), ranking by sign alone gives "
      "LeNet {a}, ResNet {b}",
      "从显著图到梯度 × 输入（填充值 0）的提升中，仅按符号排序就带来了：LeNet {a}，ResNet {b}"),
    M("in saliency maps' time: LeNet SmoothGrad {a}, integrated gradients {b}; "
      "ResNet SmoothGrad {c}, integrated gradients {d}",
      "折合成显著图的耗时：LeNet 上 SmoothGrad 为 {a} 张，积分梯度为 {b} 张；"
      "ResNet 上 SmoothGrad 为 {c} 张，积分梯度为 {d} 张"),
    M("{name}'s Grad-CAM puts {verdict} a uniform map ({x}, seeds {a} to {b}, against {u})",
      "{name} 的 Grad-CAM 放在背景上的权重{verdict}（{x}，各随机种子 {a} 到 {b}，均匀的图为 {u}）",
      values={"verdict": {"less of its weight on the background than": "比均匀的图少",
                          "more of its weight on the background than": "比均匀的图多",
                          "about as much of its weight on the background as": "与均匀的图差不多"}}),
    # mlp_limits
    M("float32 memory for the weights alone: {n} MB", "仅权重所需的 float32 内存：{n} MB"),
    M("FLOPs for one image through this one layer: {n}", "一张图像通过这一层的 FLOPs：{n}"),
    M("pixel ({r}, {c}) sits at flat position {p}", "像素 ({r}, {c}) 位于展平后的位置 {p}"),
    M("the pixel below, ({r}, {c}), sits at {p}: {d} positions away",
      "它下方的像素 ({r}, {c}) 位于 {p}：相距 {d} 个位置"),
    M("offsets of its 3x3 neighbourhood in the flat vector:",
      "它的 3x3 邻域在展平向量中的偏移量："),
    M("largest difference between the two networks' outputs: {d}",
      "两个网络输出之间的最大差异：{d}"),
    # modern
    M("{n} training images; epochs: {a} (batch norm), {b} (blocks), {c} (depth)",
      "{n} 张训练图像；轮数：{a}（批量归一化），{b}（块），{c}（深度）"),
    M("training mode: channel means {m} at most, variances {v}",
      "训练模式：各通道均值至多为 {m}，方差 {v}"),
    M("  first image in a batch of 2 vs in the batch of 64: outputs differ by {d}",
      "  第一张图像在大小为 2 的批量中与在大小为 64 的批量中：输出相差 {d}"),
    M("running mean after 10 batches: {a},\n  {f} (= 1 - 0.9**10) of the batch means {b}",
      "10 个批量之后的滑动均值：{a}，\n  即批量均值 {b} 的 {f} 倍（= 1 - 0.9**10）"),
    M("{n} batches: the losses differ by at most {d}; test accuracy {a} (PyTorch's layers) and "
      "{b} (ours)",
      "{n} 个批量：损失至多相差 {d}；测试准确率 {a}（PyTorch 的层）和 {b}（我们的实现）"),
    M("seconds per epoch per MFLOP, this run: {list}", "本次运行中每轮秒数除以 MFLOPs：{list}"),
    M("{name} first layer's gradient / last layer's {r}; final test accuracy {a}",
      "{name} 第一层的梯度 / 最后一层的梯度 {r}；最终测试准确率 {a}", values={"name": NETS_ZH},
      columns=("name",)),
    M("{name} last-epoch training loss: {a} at 8 layers, {b} at 20 ({hl} at 20)",
      "{name} 最后一轮的训练损失：8 层时 {a}，20 层时 {b}（20 层时{hl}）",
      values={"name": NETS_ZH, "hl": {"higher": "更高", "lower": "更低"}}, columns=("name",)),
    M("{pad}20 layers before training: first layer's gradient / last layer's {r}, spread of the "
      "class scores {s} (8 layers: {t})",
      "{pad}训练前的 20 层网络：第一层的梯度 / 最后一层的梯度 {r}，类别分数的分布宽度 {s}"
      "（8 层：{t}）"),
    # mlp_limits, printed wrapped by its say() at 88 columns
    M("budget {b}: {tr} training and {te} test images, {e} epoch(s) per run, on {device}; the 4 "
      "runs took {s} s.",
      "预算 {b}：{tr} 张训练图像和 {te} 张测试图像，每次运行 {e} 轮，在 {device} 上；"
      "4 次运行共用时 {s} 秒。", wrap=88),
    M("MLP on the original images, initial weights from seed {s1} instead of {s0}: {a}% ({d} "
      "points). Permuting the pixels changed the MLP by {m} points and the CNN by {c}.",
      "原始图像上的 MLP，初始权重取自随机种子 {s1} 而不是 {s0}：{a}%（变化 {d} 个百分点）。"
      "打乱像素使 MLP 变化了 {m} 个百分点，使 CNN 变化了 {c}。", wrap=88),
    M("CNN without pooling: {n} parameters, {a}% on the original test images.",
      "不带池化的 CNN：{n} 个参数，原始测试图像上 {a}%。", wrap=88),
    M("budget {b}: {n} test images, each shift averaged over {dirs}",
      "预算 {b}：{n} 张测试图像，每种平移取以下方向的平均：{dirs}",
      items={"dirs": {"right": "右", "left": "左", "down": "下", "up": "上"}}, wrap=88),
    M("budget {b}: {n} training images, {e} epoch(s) of SGD with batches of 128, on {device}; "
      "test accuracy:",
      "预算 {b}：{n} 张训练图像，用批量大小 128 的 SGD 训练 {e} 轮，在 {device} 上；测试准确率：",
      wrap=88),
    M("16 maps of 28x28 from a 28x28 image: fully connected {d} weights; local 3x3 windows {l}; "
      "local and shared (a convolution) {s}.",
      "从一张 28x28 的图像得到 16 张 28x28 的特征图：全连接需要 {d} 个权重；"
      "局部 3x3 窗口需要 {l} 个；"
      "局部且共享（即卷积）只需 {s} 个。", wrap=88),
    M("{h} convolution filters of 10x10 on the 1000x1000 photo: {n} parameters, whatever the "
      "image size (the fully-connected layer had {b}).",
      "在 1000x1000 的照片上用 {h} 个 10x10 的卷积滤波器：{n} 个参数，与图像大小无关"
      "（全连接层有 {b} 个）。", wrap=88),
    M("The CNN's last layer after two 2x2 poolings: {a} parameters; without pooling it would "
      "need {b}.",
      "经过两次 2x2 池化之后，CNN 的最后一层有 {a} 个参数；不做池化则需要 {b} 个。", wrap=88),
    M("1. Local connectivity. A unit looks at a small window, not at all {n} pixels. The "
      "window's pixels are neighbours in the image although Flatten puts them up to {k} "
      "positions apart; a CNN bets that such neighbours belong together, and when the "
      "permutation broke that bet it changed by {c} points, while the MLP changed by {m}.",
      "1. 局部连接。一个单元只看一个小窗口，而不是全部 {n} 个像素。窗口里的像素在图像中彼此相邻，"
      "尽管 Flatten 会把它们放到相距多达 {k} 个位置的地方；CNN 押注这样的相邻像素属于一体，"
      "打乱像素打破了这个押注时，它变化了 {c} 个百分点，而 MLP 变化了 {m}。", wrap=88),
    M("2. Weight sharing. The same kernel at every position: {s} weights instead of {l} (local, "
      "unshared) or {d} (dense) for the layer above. The small CNN does {f} FLOPs per parameter "
      "against the MLP's {g}, with {r}x fewer parameters.",
      "2. 权重共享。每个位置用同一个卷积核：上面那一层只需 {s} 个权重，"
      "而不是 {l} 个（局部、不共享）"
      "或 {d} 个（全连接）。小型 CNN 每个参数做 {f} 次 FLOPs，MLP 只做 {g} 次，"
      "而小型 CNN 的参数量只有 MLP 的 {r} 分之一。", wrap=88),
    M("3. Down-sampling. Pooling shrinks 28x28 to 7x7, so the last layer needs {a} parameters, "
      "not {b}, and it forgets exact positions within each window: a 2-pixel shift cost the CNN "
      "{c} points of accuracy, the same convolutions without pooling {d} and the MLP {e}.",
      "3. 下采样。池化把 28x28 缩小到 7x7，所以最后一层只需 {a} 个参数，而不是 {b} 个；"
      "它还会忘掉每个窗口内的确切位置：平移 2 个像素让 CNN 的准确率下降 {c} 个百分点，"
      "不带池化的同样的卷积下降 {d}，MLP 下降 {e}。", wrap=88),
    M("--- {name}", "--- {name}", values={"name": LOSS_RUNS_ZH}),
    M("default init, lr {lr}", "默认初始化，学习率 {lr}"),
    M("Xavier, lr {lr}", "Xavier 初始化，学习率 {lr}",
      values={"lr": {"0.9 (published)": "0.9（公布的设置）"}}),
    M("label: {c} | shape: {s}", "标签：{c} | 形状：{s}", values={"c": CLASS_NAMES_ZH}),
    # d2l.layer_summary's table: the header and the total, the columns kept in place
    M("layer{pad}  output shape{gap}params", "层   {pad}  输出形状    {gap}参数量"),
    M("total  {rest}", "合计   {rest}"),
    M("max, 2x2 window, stride 2:", "最大池化，2x2 窗口，步幅 2："),
    M("avg, 2x2 window, stride 2:", "平均池化，2x2 窗口，步幅 2："),
    M("max, 3x3 window, padding 1, stride 2:", "最大池化，3x3 窗口，填充 1，步幅 2："),
    M("{n} channels in -> {shape}", "输入 {n} 个通道 -> {shape}"),
    M("step {n}: loss {x}", "第 {n} 步：损失 {x}"),
    # conv_pool's shape check: three narrow columns under one printed string, kept in place
    M("padding stride cases  formula != layer  corr2d != layer",
      "   填充   步幅  情形" + " " * 8 + "公式 != 层" + " " * 5 + "corr2d != 层"),
    M("train: {a} | test: {b}", "训练集：{a} | 测试集：{b}"),
    M("{layer}: weight {w} + bias {b} = {n} parameters",
      "{layer}：权重 {w} + 偏置 {b} = {n} 个参数"),
    M("training mode:", "训练模式："),
    M("evaluation mode:", "评估模式："),
    M("3x3 convs only:     {x}", "只用 3x3 卷积：      {x}"),
    M("3x3 conv + 2x2 pool: {x}", "3x3 卷积 + 2x2 池化：{x}"),
    M("To record one, run this on a machine with an NVIDIA GPU,",
      "要记录一次运行，请在一台有 NVIDIA GPU 的机器上，"),
    M("from the repository root:", "在仓库的根目录下运行："),
    M("It writes cnncourse/results/alexnet_full.json; rebuild the book to\nshow it here.",
      "它会写出 cnncourse/results/alexnet_full.json；重新构建本书，结果就会显示在这里。"),
    # ---- distributed (data parallelism, DDP, checkpoints), and interpret's data randomisation
    M("budget: {budget}, torch {version}, seed {seed}, GPUs: {n}",
      "预算：{budget}，torch {version}，随机种子 {seed}，GPU 数量：{n}"),
    M("{budget} budget: equality over {n} steps; set_epoch {s}; scaling {c}; SyncBatchNorm {b}",
      "{budget} 预算：相等性实验 {n} 步；set_epoch 实验 {s}；缩放实验 {c}；SyncBatchNorm 实验 {b}"),
    M("LeNet: {a} apart after the parameters moved by up to {m} ({r} of it);\nwith batch norm "
      "{b} apart, but {c} from one process that normalises each half alone;\nsynchronised batch "
      "norm: {s} apart after moving {sm} ({sr} of it)",
      "LeNet：参数最多移动了 {m}，两种运行相差 {a}（为移动幅度的 {r}）；\n"
      "使用批量归一化时相差 {b}，但与分别归一化每一半的单进程运行只相差 {c}；\n"
      "同步批量归一化：移动 {sm} 之后相差 {s}（为移动幅度的 {sr}）"),
    M("{n} images, 2 ranks × 128 per step, {p} steps per epoch, {e} epochs: {a} distinct global "
      "batches with set_epoch, {b} without",
      "{n} 张图像，每步 2 个 rank × 128 张，每轮 {p} 步，共 {e} 轮：调用 set_epoch 时有 {a} 个"
      "不同的全局批量，不调用时 {b} 个"),
    M("no effect of set_epoch on the accuracy is measurable in these runs: every difference is "
      "within the spread between seeds",
      "在这几次运行中，测量不出 set_epoch 对准确率的影响：每个差异都在随机种子之间的波动范围之内"),
    M("a difference exceeds the spread between seeds on some seed; with this few seeds and epochs "
      "that is a hint, not yet a measured effect",
      "在某个随机种子上，差异超过了随机种子之间的波动；随机种子和轮数这么少，"
      "这只是一个迹象，还不是测量出的效应"),
    M("set_epoch {which}: rank 0 gets {order}", "{which} set_epoch：rank 0 得到 {order}",
      values={"which": {"called": "调用了", "forgotten": "忘了调用"}}),
    M("test accuracy, with against without set_epoch: differences {d} (seeds {a}..{b});\n"
      "spread between seeds with set_epoch: {s}",
      "测试准确率，调用与不调用 set_epoch 之差：{d}（随机种子 {a}..{b}）；\n"
      "调用 set_epoch 时各随机种子之间的波动：{s}"),
    M("doubling the lr lowers the mean loss by {a} at batch 256 and by {b} at batch 512;\nthe "
      "scaled run (no warm-up) ends {c} from the base run;\nwarm-up raised the loss on {w} of {n} "
      "seeds (mean {d});\n2 processes (DDP) against 1 normalising halves, largest parameter "
      "difference: {x}",
      "把学习率加倍后，平均损失在批量 256 时降低 {a}，在批量 512 时降低 {b}；\n"
      "缩放的运行（不预热）最终与基准运行相差 {c}；\n"
      "在 {n} 个随机种子中，预热在 {w} 个上提高了损失（平均 {d}）；\n"
      "2 个进程（DDP）对比 1 个分别归一化两半的进程，参数的最大差异：{x}"),
    M("largest difference in training loss, per-process against synchronised: {d};\nspread over "
      "seeds with synchronised statistics: {s}",
      "训练损失的最大差异，各进程单独统计与同步统计之间：{d}；\n"
      "使用同步统计量时各随机种子之间的波动：{s}"),
    M("{name}: {k} all-reduce calls, {p} of a step on 2 processes with average_gradients",
      "{name}：{k} 次 all-reduce 调用，在 2 个进程上用 average_gradients 时占一步时间的 {p}"),
    M("a ResNet step computes {x} times as long as a LeNet step (1 process)",
      "ResNet 一步的计算时间是 LeNet 一步的 {x} 倍（1 个进程）"),
    M("this run saw {n} GPU(s); the table above was measured on CPU processes either way.",
      "这次运行看到了 {n} 块 GPU；无论如何，上表都是在 CPU 进程上测量的。"),
    M("no GPU was measured for this table: the machine that ran it has none.",
      "这张表没有测量 GPU：运行它的机器没有 GPU。"),
    M("two epochs in one go (test accuracy {a}) against one, a restart and one more:\nlargest "
      "parameter difference {d}",
      "一次训练两轮（测试准确率 {a}），对比先训练一轮、重启后再训练一轮：\n参数的最大差异 {d}"),
    M("the killed run was restarted {n} time(s);\nits final weights are {same} the uninterrupted "
      "run's",
      "被杀死的运行重启了 {n} 次；\n它的最终权重与未中断运行的权重{same}",
      values={"same": {"bit-identical to": "逐位相同", "NOT the same as": "不相同"}}),
    M("two trained networks of different seeds give the same answer on {l} {a} to {b}, "
      "{r} {c} to {d} of the images",
      "不同随机种子训练出的两个网络给出相同答案的图像比例：{l} {a} 到 {b}，{r} {c} 到 {d}"),
    M("LeNet, {n} images, {e} epochs of Adam: training accuracy {l1} labels {a} to {b}, "
      "{l2} labels {c} to {d}; test accuracy {l3} labels {t}, {l4} labels {s}",
      "LeNet，{n} 张图像，Adam 训练 {e} 轮：训练准确率：{l1}标签 {a} 到 {b}，{l2}标签 {c} 到 {d}；"
      "测试准确率：{l3}标签 {t}，{l4}标签 {s}",
      values={f"l{i}": {"true": "真实", "shuffled": "打乱的"} for i in range(1, 5)}),
    # ---- the opening line of every chapter
    M("budget: {budget}, device: {device}, seed: {seed}, PyTorch {version}",
      "预算：{budget}，设备：{device}，随机种子：{seed}，PyTorch {version}"),
    M("budget: {budget}, device: {device}, torch {version}, seed {seed}",
      "预算：{budget}，设备：{device}，torch {version}，随机种子 {seed}"),
    M("budget: {budget}, device: {device}, seed: {seed}",
      "预算：{budget}，设备：{device}，随机种子：{seed}"),
    M("budget: {budget} | seed: {seed}", "预算：{budget} | 随机种子：{seed}"),
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
    # ---- mlp_limits (its say() prints wrapped at 88 columns)
    M("The one-hidden-layer MLP has {x}x the parameters of the small CNN.",
      "单隐藏层的多层感知机的参数量是小型卷积神经网络的 {x} 倍。", wrap=88),
    M("{model}: {orig}% on the original images, {perm}% on the permuted ones ({change} points).",
      "{model}：原始图像上 {orig}%，像素打乱后的图像上 {perm}%（变化 {change} 个百分点）。",
      wrap=88),
    M("CNN minus MLP: {orig} points on the original images, {perm} points on the permuted ones.",
      "卷积神经网络减去多层感知机：原始图像上 {orig} 个百分点，打乱后的图像上 {perm} 个百分点。",
      wrap=88),
    M("{model}: {s0}% unshifted, {s2}% at 2 pixels, {s4}% at 4 pixels.",
      "{model}：不平移 {s0}%，平移 2 个像素 {s2}%，平移 4 个像素 {s4}%。",
      values={"model": MODELS_ZH}, wrap=88),
    M("Clearly above chance (10%) at one learning rate at least: {nets}.",
      "至少在一个学习率下明显高于随机猜测（10%）的：{nets}。",
      values={"nets": {"none of the four": "四个都没有"}}, items={"nets": DEEP_NETS_ZH}, wrap=88),
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


# Printed words that stay English in the Chinese edition, on purpose (tests/test_i18n.py checks
# that every other printed phrase has a template above): code and names a reader types or
# searches for, and tables' column labels, which are read with their numbers.
LEFT_IN_ENGLISH: list[str] = [
    # distributed: the torchrun command line each experiment prints, as the reader types it
    "OMP_NUM_THREADS", "python -m torch.distributed.run",
    # code: expressions whose difference is printed, the tensors' names
    "convolution - corr2d(X, K)", "convolution - corr2d(X, flip(K))", "ours - F.conv2d",
    "one_hot(y)", "softmax - one_hot",
]


# ---- d2l.Table (cnncourse/analysis.py): the tables the text reads column by column and row by
# row ("请看最后一列", "默认初始化的那一行"). Each header, row label and caption is looked up
# whole: first as a word here, then as a template of TABLE_CATALOGUE; cells of numbers, and
# names a reader types (lenet_modern, SGD 0.9, AlexNet-28), are left as they are.
TABLE_WORDS: dict[str, str] = {
    **METHODS_ZH, **SCALINGS_ZH, **REGULARISERS_ZH, **NETS_ZH, **DELETION_ORDERS_ZH,
    # column headers
    "model": "模型", "network": "网络", "method": "方法", "run": "运行", "inputs": "输入",
    "epochs": "轮数", "loss": "损失", "train acc": "训练准确率", "test acc": "测试准确率",
    "training acc": "训练准确率", "gap": "差距", "seconds": "秒", "device": "设备",
    "s / epoch": "秒 / 轮", "s/epoch": "秒 / 轮", "examples/sec": "样本/秒",
    "params": "参数量", "optimiser": "优化器", "activation": "激活函数", "pooling": "池化",
    "lr": "学习率", "test acc after epoch 1": "第 1 轮后的测试准确率",
    "test acc vs baseline": "测试准确率相对基线", "conv params": "卷积层参数",
    "dense params": "全连接层参数", "FLOPs / image": "FLOPs / 图像",
    "activations / image": "激活值 / 图像", "activations ×128": "激活值 ×128",
    "train images / s": "训练图像 / 秒",
    "conv 1": "卷积层 1", "conv 2": "卷积层 2", "dense 120": "全连接层 120",
    "dense 84": "全连接层 84", "dense 10": "全连接层 10",
    "dense 84 vs [0, 1]": "全连接层 84 相对 [0, 1]",
    "kernels (3 seeds)": "卷积核（3 个随机种子）",
    "edge-like before (mean R²)": "训练前边缘状的比例（平均 R²）",
    "edge-like after (mean R²)": "训练后边缘状的比例（平均 R²）",
    "edge-like change (mean R²)": "训练带来的变化中边缘状的比例（平均 R²）",
    "change / initial size": "变化量 / 初始大小",
    "median |S(x) - S(0)|": "|S(x) - S(0)| 的中位数", "8 steps": "8 步", "32 steps": "32 步",
    "128 steps": "128 步", "another seed, trained": "另一个种子，训练好的",
    "trained seed minus all random": "训练好的种子减去全部随机",
    "all random, signed": "全部随机，带符号", "all random, object pixels": "全部随机，物体像素",
    "all random: constant maps": "全部随机：常数图", "removal order": "移除顺序",
    "forward + backward passes": "前向 + 反向传播次数",
    "20 weight layers, no batch norm": "20 个权重层，无批量归一化",
    "gradient: first / last layer": "梯度：第一层 / 最后一层",
    "training loss per epoch": "每轮的训练损失", "test acc per epoch": "每轮的测试准确率",
    "weight layers": "权重层数",
    # row labels
    "dropout 0.5 (baseline)": "丢弃法 0.5（基线）", "source (MXNet)": "原资料（MXNet）",
    "source (d2l, PyTorch)": "原资料（d2l，PyTorch）", "this page": "本页",
    "output spread, default init": "输出的分布宽度，默认初始化",
    "output spread, Xavier init": "输出的分布宽度，Xavier 初始化",
    "gradient RMS, default init": "梯度均方根，默认初始化",
    "gradient RMS, Xavier init": "梯度均方根，Xavier 初始化",
    "average": "平均", "max": "最大", "new": "新的", "lenet, above": "lenet，见上文",
    "lenet_modern, above": "lenet_modern，见上文", "LeNet + batch norm": "LeNet + 批量归一化",
    "ratio (×)": "比值（×）", "(a uniform map)": "（均匀图）",
    # tables printed as text, in aligned columns (translate_columns)
    **LOSS_RUNS_ZH, **DEEP_NETS_ZH, **MODELS_ZH,
    "conv": "卷积层", "dense": "全连接层", "layer": "层", "weights": "权重",
    "gradients": "梯度", "optimizer": "优化器状态", "activations": "激活值", "total": "合计",
    "learned kernel": "学到的卷积核", "true kernel": "真实的卷积核", "map": "特征图",
    "image": "图像", "after layer": "经过的层", "kernel stride jump": "卷积核  步幅  跳距",
    "formula": "公式", "autograd": "自动微分", "label": "标签", "naive": "朴素",
    "ours": "我们的", "naive (softmax, then log)": "朴素（先 softmax 再取对数）",
    "log-sum-exp form": "log-sum-exp 形式", "gradient sent to z_y": "传给 z_y 的梯度",
    "square error on logits": "logits 上的平方误差",
    "square error on softmax (Brier)": "softmax 上的平方误差（Brier）",
    "mean conf": "平均置信度", "not [0,1]": "不在 [0,1] 内",
    "largest Hessian eigenvalue": "Hessian 的最大特征值", "square error": "平方误差",
    "random logits": "随机 logits", "two classes at 1/2": "两个类别各 1/2",
    "confident and right": "自信且正确", "blew up": "发散", "pixels": "像素数",
    "parameters": "参数量", "FLOPs per parameter": "每个参数的 FLOPs",
    "softmax regression": "softmax 回归", "small CNN": "小型 CNN",
    "acc, original": "准确率，原图", "acc, permuted": "准确率，打乱",
    "change (points)": "变化（百分点）", "net": "网络", "diverged": "发散",
    "net, 20 hidden layers": "网络，20 个隐藏层",
    # distributed (data parallelism, DDP, checkpoints) and interpret's kernels and data test
    "what differs": "不同之处", "largest difference from 1 process": "与 1 个进程的最大差异",
    "largest change in training": "训练中的最大变化",
    "difference between ranks": "rank 之间的差异",
    "LeNet + batch norm, synchronised": "LeNet + 批量归一化，同步",
    "LeNet + dropout": "LeNet + 丢弃法", "LeNet, own data order": "LeNet，各进程自己的数据顺序",
    "none": "无", "per-process batch statistics": "各进程各自的批量统计量",
    "none (statistics of the whole batch)": "无（整个批量的统计量）",
    "dropout masks drawn per process": "每个进程各自抽取丢弃掩码",
    "each process shuffles for itself": "每个进程各自打乱数据",
    "seed": "随机种子", "share seen by rank 0, per epoch": "rank 0 已看到的比例，逐轮",
    "with": "有", "without": "无", "global batch": "全局批量",
    "train loss, last epoch (per seed)": "最后一轮的训练损失（逐个随机种子）",
    "base": "基准", "unscaled": "不缩放", "scaled": "缩放", "scaled, no warm-up": "缩放，不预热",
    "256, lr 0.1": "256，学习率 0.1", "512, lr 0.1": "512，学习率 0.1",
    "512, lr 0.2, warm-up": "512，学习率 0.2，预热", "512, lr 0.2": "512，学习率 0.2",
    "batch norm": "批量归一化", "test acc (per seed)": "测试准确率（逐个随机种子）",
    "per-process": "各进程单独", "sync": "同步",
    "1 process: ms per step": "1 个进程：每步毫秒数",
    "2 processes: compute, ms": "2 个进程：计算，毫秒",
    "2 processes: all-reduce, ms": "2 个进程：all-reduce，毫秒", "speed-up": "加速比",
    "base, lr doubled": "基准，学习率加倍", "0.1 → 0.2 (warm-up)": "0.1 → 0.2（预热）",
    "mean": "平均", "all-reduce calls": "all-reduce 调用次数", "all-reduce, ms": "all-reduce，毫秒",
    "DDP step, ms": "DDP 一步，毫秒", "DDP speed-up": "DDP 加速比",
    "s per epoch: 1 process → DDP": "每轮秒数：1 个进程 → DDP",
    "s per epoch: 1 process → 2 (compute + all-reduce)":
        "每轮秒数：1 个进程 → 2 个进程（计算 + all-reduce）",
    "restarts": "重启次数", "parameter sum": "参数之和", "SHA-256 of the weights": "权重的 SHA-256",
    "uninterrupted": "未中断", "rank 1 killed in epoch 2": "rank 1 在第 2 轮被杀死",
    "first-layer kernels": "第一层卷积核", "number (3 seeds)": "个数（3 个随机种子）",
    "oriented (above 95 % of random kernels)": "有方向的比例（得分高于 95% 的随机卷积核）",
    "mean orientedness": "平均方向性", "random kernels (control)": "随机卷积核（对照）",
    "before training": "训练前", "after training": "训练后",
    "change (after - before)": "变化（训练后 - 训练前）",
    "size of the change, by seed": "变化的大小，按随机种子",
    "signed: another seed": "带符号：另一个种子", "signed: all random": "带符号：全部随机",
    "object pixels: another seed": "物体像素：另一个种子",
    "object pixels: all random": "物体像素：全部随机",
    "true vs shuffled labels": "真实标签对打乱的标签",
    "true labels, another seed": "真实标签，另一个种子",
    "difference": "差异",
    # captions without numbers
    "one batch of 256 test images, untrained LeNet": "一个批量的 256 张测试图像，未训练的 LeNet",
    "gradient norm per weight layer, untrained, one batch of 256":
        "每个权重层的梯度范数，未训练，一个大小为 256 的批量",
}
# Table cells that stay English on purpose: names a reader types or searches for.
TABLE_LEFT_IN_ENGLISH: list[str] = ["AlexNet-28", "CPU", "cuda:0", "LeNet", "MFLOPs",
                                    "set_epoch"]
_BUDGET = "{budget} budget, {device}"
TABLE_CATALOGUE: list[Message] = [
    # distributed and interpret (longest first: "train loss, epoch {e}" would match the first)
    M("train loss, epoch {e} (per seed)", "第 {e} 轮的训练损失（逐个随机种子）"),
    M("train loss, epoch {e}", "第 {e} 轮的训练损失"),
    M("test acc, epoch {e}", "第 {e} 轮的测试准确率"),
    M("parameters after {n} steps of SGD (lr 0.9, batch 256): 2 processes on 128 images each "
      "against 1 process on 256",
      "{n} 步 SGD 之后的参数（学习率 0.9，批量大小 256）：2 个进程各 128 张图像，"
      "对比 1 个进程 256 张"),
    M("{budget} budget: {n} images, 2 processes, global batch 256",
      "{budget} 预算：{n} 张图像，2 个进程，全局批量 256"),
    M("{budget} budget: LeNet + batch norm over 256 images per process, {e} epoch(s) on {n} "
      "images, seeds {a}..{b}; warm-up: {w} steps",
      "{budget} 预算：LeNet + 批量归一化（每个进程 256 张图像），在 {n} 张图像上训练 {e} 轮，"
      "随机种子 {a}..{b}；预热：{w} 步"),
    M("{budget} budget: ResNet-28, {e} epoch(s) on {n} images, 2 processes × 64 images, "
      "lr 0.1, seeds {a}..{b}",
      "{budget} 预算：ResNet-28，在 {n} 张图像上训练 {e} 轮，2 个进程 × 64 张图像，"
      "学习率 0.1，随机种子 {a}..{b}"),
    M("CPU, gloo, 1 thread per process, {n} steps after one warm-up step; on 2 processes the "
      "slower rank's times",
      "CPU，gloo，每个进程 1 个线程，预热一步后计时 {n} 步；2 个进程时取较慢的 rank 的时间"),
    M("{p} processes, {backend}, ReLU LeNet, 2 epochs on {n} images",
      "{p} 个进程，{backend}，使用 ReLU 的 LeNet，在 {n} 张图像上训练 2 轮"),
    M("seed {s}: at lr, then lr / 10", "随机种子 {s}：先用原学习率，再用学习率 / 10"),
    M("{a} to {b} of the start's", "起点的 {a} 到 {b}"),
    M("{budget} budget: first-layer kernels of all three seeds against random kernels of the "
      "same shape and lengths",
      "{budget} 预算：全部三个随机种子的第一层卷积核，对照形状和长度相同的随机卷积核"),
    M("LeNet: rank correlation of map magnitudes (Grad-CAM on its layer's grid), mean over {n} "
      "images and 3 seeds; {budget} budget",
      "LeNet：图的绝对值之间的秩相关（Grad-CAM 在其所在层的网格上比较），{n} 张图像、"
      "3 个随机种子上的平均；{budget} 预算"),
    M("test acc, seed {s} (epoch before)", "测试准确率，随机种子 {s}（前一轮）"),
    M("+{part} {k}", "+{part} {k}", values={"part": {"dense": "全连接层", "conv": "卷积层",
                                                     "block": "块"}}),
    M("+{part}", "+{part}", values={"part": {"dense": "全连接层", "stem": "起始层"}}),
    M("{name}, fill {fill}", "{name}，填充值 {fill}"),
    M("{name}: ms per image", "{name}：每张图像的毫秒数"),
    M("after epoch {n}", "第 {n} 轮后"),
    M("dense share {p}", "全连接层占比 {p}"),
    M("largest difference {x}", "最大差异 {x}"),
    M("Dataset + DataLoader, {n} workers", "Dataset + DataLoader，{n} 个工作进程"),
    M("params of a {n}-unit layer", "{n} 个单元的一层的参数量"),
    M("shift {k}", "平移 {k}"),
    M("lr {x}", "学习率 {x}"),
    M("layer 1 / layer {n}", "第 1 层 / 第 {n} 层"),
    M("layer {n}", "第 {n} 层"),
    M(_BUDGET + ", seed {seed}: {e} epochs of batch 32 ({s} steps) on {n} training images; "
      "{t} test images",
      "{budget} 预算，{device}，随机种子 {seed}：在 {n} 张训练图像上以批量大小 32 训练 {e} 轮"
      "（{s} 步）；{t} 张测试图像"),
    M(_BUDGET + ": {n} training images", "{budget} 预算，{device}：{n} 张训练图像"),
    M("{budget} budget: first-layer kernels of all three seeds",
      "{budget} 预算：全部三个随机种子的第一层卷积核"),
    M("integrated gradients: median relative gap between the map's sum and S(x) - S(0), "
      "seed {seed}",
      "积分梯度：图的总和与 S(x) - S(0) 之间相对差距的中位数，随机种子 {seed}"),
    M("{name}: rank correlation with the trained network's map (magnitudes unless signed; "
      "Grad-CAM on its layer's grid), mean over 3 seeds and {n} images (from 'another seed' "
      "on, those both seeds' networks classify alike; constant maps left out); {budget} budget",
      "{name}：与训练好的网络的图之间的秩相关（除标明带符号者外均取绝对值；Grad-CAM "
      "在其所在层的网格上比较），3 个随机种子和 {n} 张图像上的平均（从“另一个种子”一列起，"
      "只取两个种子的网络分类相同的图像；不计常数图）；{budget} 预算"),
    M("deletion test: area (mean probability over the curve to 50 % removed; lower = faster), "
      "{n} images, mean ± sd over 3 seeds; {budget} budget",
      "删除检验：面积（移除到 50% 为止的曲线上的平均概率；越低越快），{n} 张图像，"
      "3 个随机种子上的均值 ± 标准差；{budget} 预算"),
    M("share of each map's magnitude on background pixels, mean over {n} images and 3 seeds, "
      "and its excess over a uniform map's share on the same image; {budget} budget",
      "每张图的绝对值落在背景像素上的份额，{n} 张图像、3 个随机种子上的平均，"
      "以及它比同一图像上均匀的图的份额多出多少；{budget} 预算"),
    M("{name}: share", "{name}：份额"),
    M("{name}: minus the uniform map's, points", "{name}：减去均匀的图的份额（百分点）"),
    M("{cpu}, PyTorch threads: {t}, batches of {n} images, median of 3 timings; "
      "{budget} budget",
      "{cpu}，PyTorch 线程数：{t}，每批 {n} 张图像，3 次计时的中位数；{budget} 预算"),
    M("{who} LeNet, lr 0.9, batch 256 ({budget} budget)",
      "{who} LeNet，学习率 0.9，批量大小 256（{budget} 预算）"),
    M("output spread of each sigmoid, Xavier init, the probe batch (standardised: mean {m}, "
      "std {s})",
      "每个 sigmoid 输出的分布宽度，Xavier 初始化，探测批量（标准化：均值 {m}，标准差 {s}）"),
    M("{budget} budget: {e} epochs, batch {b}, {n} images",
      "{budget} 预算：{e} 轮，批量大小 {b}，{n} 张图像"),
    M("one change at a time ({budget} budget, {device}, seed {seed}, {n} images, batch {b})",
      "一次只改一处（{budget} 预算，{device}，随机种子 {seed}，{n} 张图像，批量大小 {b}）"),
    M(_BUDGET + ": {e} epoch(s) of batch 128 on {n} images",
      "{budget} 预算，{device}：在 {n} 张图像上以批量大小 128 训练 {e} 轮"),
    M(_BUDGET + ": {e} epoch(s) on {n} images; training loss and accuracy are each epoch's "
      "means",
      "{budget} 预算，{device}：在 {n} 张图像上训练 {e} 轮；"
      "训练损失和准确率是每轮的平均值"),
    M(_BUDGET + ": {e} epoch(s) on {n} images",
      "{budget} 预算，{device}：在 {n} 张图像上训练 {e} 轮"),
    M("batch norm and Kaiming init; " + _BUDGET + ": {e} epoch(s) on {n} images, {s} SGD steps",
      "批量归一化和 Kaiming 初始化；{budget} 预算，{device}：在 {n} 张图像上训练 {e} 轮，"
      "SGD {s} 步"),
]


# Cells of numbers with a word between them (interpret: "7% to 9%", "6 of 48").
TABLE_NUMBERS = [(re.compile(r"^([\d.,]+%?) to ([\d.,]+%?)$"), r"\1 到 \2"),
                 (re.compile(r"^([\d,]+) of ([\d,]+)$"), r"\2 个中的 \1 个"),
                 (re.compile(r"^([\d,.]+) examples/sec$"), r"\1 样本/秒"),
                 (re.compile(r"^(\d) (" + "|".join(map(re.escape, CLASS_NAMES_ZH)) + ")$"),
                  lambda m: f"{m[1]} {CLASS_NAMES_ZH[m[2]]}")]


def translate_cell(text: str, lang: str | None = None) -> str:
    """One header, row label or caption of a :class:`cnncourse.analysis.Table` in ``lang``
    (default: :func:`language`); ``text`` itself where nothing here translates it."""
    if (lang or language()) == "en" or not re.search(r"[A-Za-z]{2}", text):
        return text
    if text in TABLE_WORDS:
        return TABLE_WORDS[text]
    for pattern, words in TABLE_NUMBERS:
        if pattern.match(text):
            return pattern.sub(words, text)
    for message in TABLE_CATALOGUE:
        m = message.pattern.fullmatch(text)
        if m:
            return message.render(m)
    return text


# A cell of a table printed as text: words and numbers joined by single spaces; cells are
# apart by two spaces or more.
_COLUMN_CELL = re.compile(r"\S+(?: \S+)*")
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def translate_columns(line: str, lang: str | None = None, others: list[str] = ()) -> str:
    """A line of a table printed as text (columns apart by two or more spaces), with each
    header and row label that :func:`translate_cell` knows in ``lang``, the columns kept in
    place. A right-aligned cell (one whose right edge a cell of the ``others`` lines of its
    table shares) keeps its right edge, the others their left edge; where the other lines do
    not tell, a cell with more room before it than after counts as right-aligned. A
    translation too wide for its room pushes the rest of the line right."""
    cells = [(m.start(), m.end(), m[0]) for m in _COLUMN_CELL.finditer(line)]
    if len(cells) < 2 or _CJK.search(line):
        return line
    shown = [translate_cell(c, lang) for _, _, c in cells]
    if shown == [c for _, _, c in cells]:
        return line
    # the other cells' edges (not rules of dashes, nor the same words in another row)
    edges = [(m.start(), m.end(), m[0]) for other in others if not _CJK.search(other)
             for m in _COLUMN_CELL.finditer(other) if m[0].strip("-")]
    out, col = "", 0
    for i, ((start, end, english), text) in enumerate(zip(cells, shown)):
        starts = {a for a, _, words in edges if words != english}
        ends = {b for _, b, words in edges if words != english}
        before = start - cells[i - 1][1] if i else start
        after = cells[i + 1][0] - end if i + 1 < len(cells) else 0
        least = 0 if i == 0 else (2 if before >= 2 else 1)
        if (end in ends) != (start in starts):
            right = end in ends
        else:
            right = before > 0 and before >= after
        goal = end - _width(text) if right else start
        pad = max(goal - col, least)
        out += " " * pad + text
        col += pad + _width(text)
    return out + line[cells[-1][1]:]


_TABLE_CELL = re.compile(r"(<caption>|<t[hd](?: [^>]*)?>)([^<]*)(</caption>|</t[hd]>)")


def translate_table_html(html_text: str, lang: str | None = None) -> str:
    """A table's HTML, as :class:`~cnncourse.analysis.Table` writes it, with its caption,
    headers and row labels in ``lang``: what the Chinese book does to the English build's
    outputs (bookfactory/lang_switch.py)."""
    import html

    if (lang or language()) == "en":
        return html_text
    return _TABLE_CELL.sub(lambda m: m[1] + html.escape(translate_cell(html.unescape(m[2]), lang))
                           + m[3], html_text)


def language() -> str:
    """The language results are printed in: ``CNNCOURSE_LANG``, else English."""
    lang = os.environ.get(ENV_VAR, "en").strip() or "en"
    if lang.replace("-", "_") not in LANGUAGES:
        raise ValueError(f"{ENV_VAR}={lang!r}: use one of {', '.join(LANGUAGES)} "
                         f"(or leave it unset for English)")
    return lang.replace("-", "_")


def translate(text: str, lang: str | None = None, context: list[str] = ()) -> str:
    """``text`` with every catalogued sentence in ``lang`` (default: :func:`language`).

    ``context``: lines printed just before (English), which tell a table printed one row per
    call which of its columns are right-aligned (:func:`translate_columns`)."""
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
    if "  " in text:  # tables printed as text: their headers and row labels
        lines = text.split("\n")
        text = "\n".join(translate_columns(line, lang or language(),
                                           [*context, *lines[:i], *lines[i + 1:]])
                         if "  " in line else line for i, line in enumerate(lines))
    return text


class _TranslatingStream(io.TextIOBase):
    """A text stream that translates each completed print before passing it on."""

    # English lines kept as context: a table printed row by row is one table
    CONTEXT_LINES = 40

    def __init__(self, stream, lang: str):
        self._stream, self._lang, self._pending = stream, lang, ""
        self._recent: list[str] = []

    def _emit(self) -> None:
        self._stream.write(translate(self._pending, self._lang, self._recent))
        self._recent = (self._recent + self._pending.split("\n"))[-self.CONTEXT_LINES:]
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if self._pending.endswith("\n"):  # print() ends with its own write of end="\n"
            self._emit()
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._emit()
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
