"""Dispatch-level MAC counting on modules whose counts can be checked by hand."""
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from autoprune.cost import MacCount, MacCounter, block_of, count_macs


def test_conv_counts_outputs_times_kernel_products():
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=True)
    x = torch.randn(1, 3, 16, 16)
    # 8 x 8 x 8 outputs, each 3*3*3 products; the bias add is not a MAC
    assert count_macs(conv, x) == 8 * 8 * 8 * 27


def test_dilated_conv_uses_output_size():
    conv = nn.Conv2d(4, 4, 3, dilation=2, bias=False)
    out = conv(torch.randn(2, 4, 12, 12))
    assert count_macs(conv, torch.randn(2, 4, 12, 12)) == out.numel() * 4 * 9


def test_depthwise_cross_correlation_with_a_kernel_tensor():
    # The Siamese head: each search map channel correlated with its template channel.
    batch, channels = 2, 16
    search, kernel = torch.randn(batch, channels, 29, 29), torch.randn(batch, channels, 5, 5)

    def xcorr_depthwise(x, k):
        b, c = k.shape[:2]
        out = F.conv2d(x.reshape(1, b * c, *x.shape[2:]), k.reshape(b * c, 1, *k.shape[2:]), groups=b * c)
        return out.reshape(b, c, *out.shape[2:])

    assert count_macs(xcorr_depthwise, search, kernel) == batch * channels * 25 * 25 * 25


def test_conv_transpose_counts_each_input_element_against_its_kernels():
    x, w = torch.randn(1, 4, 9, 9), torch.randn(4, 2, 3, 3)  # Cin 4 -> Cout 2
    assert count_macs(F.conv_transpose2d, x, w, stride=2) == 4 * 81 * 2 * 9
    layer = nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2)
    assert count_macs(layer, x) == 4 * 81 * 3 * 4


@pytest.mark.parametrize("shape", [(5, 8), (2, 7, 8)])
def test_linear_module_and_functional(shape):
    layer = nn.Linear(8, 3)
    x = torch.randn(*shape)
    tokens = x.numel() // 8
    assert count_macs(layer, x) == tokens * 8 * 3
    assert count_macs(F.linear, x, layer.weight) == tokens * 8 * 3


def test_matmul_family():
    a, b = torch.randn(3, 4, 5), torch.randn(3, 5, 6)
    assert count_macs(torch.bmm, a, b) == 3 * 4 * 5 * 6
    assert count_macs(torch.baddbmm, torch.zeros(3, 4, 6), a, b) == 3 * 4 * 5 * 6
    assert count_macs(torch.einsum, "bij,bjk->bik", a, b) == 3 * 4 * 5 * 6
    assert count_macs(torch.matmul, torch.randn(2, 3, 4, 5), torch.randn(2, 3, 5, 6)) == 2 * 3 * 4 * 5 * 6
    assert count_macs(torch.addmm, torch.zeros(4, 6), a[0], b[0]) == 4 * 5 * 6
    assert count_macs(torch.mv, a[0], torch.randn(5)) == 4 * 5


def _qkv(lq=7, lk=11, d=16, dv=8, heads=3, batch=2):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch, heads, lq, d, generator=g), torch.randn(batch, heads, lk, d, generator=g), torch.randn(batch, heads, lk, dv, generator=g))


def _explicit_attention(q, k, v):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    return scores.softmax(-1) @ v


def test_sdpa_fused_math_and_explicit_matmuls_count_the_same():
    q, k, v = _qkv()
    expected = 2 * 3 * 7 * 11 * (16 + 8)  # B*H*Lq*Lk*(Dqk + Dv)
    fused = count_macs(F.scaled_dot_product_attention, q, k, v)
    assert fused == expected
    assert "aten.scaled_dot_product_attention" in fused.by_op  # counted whole: the fused kernel still runs
    assert count_macs(_explicit_attention, q, k, v) == expected
    with sdpa_kernel(SDPBackend.MATH):
        assert count_macs(F.scaled_dot_product_attention, q, k, v) == expected
    # The CPU flash kernel called directly (as a fused path would) needs Dv == Dqk.
    v16 = torch.randn(2, 3, 11, 16)
    flash = count_macs(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu, q, k, v16)
    assert flash == 2 * 3 * 7 * 11 * 32
    assert set(flash.by_op) == {"aten._scaled_dot_product_flash_attention_for_cpu"}


def test_counts_do_not_depend_on_grad_mode():
    q, k, v = _qkv()
    with MacCounter() as counter:  # outside inference mode sdpa decomposes before dispatch
        F.scaled_dot_product_attention(q, k, v)
    assert counter.result() == count_macs(F.scaled_dot_product_attention, q, k, v)


class FusedAttention(nn.Module):
    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def split(self, x):
        b, n, c = x.shape
        return self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)

    def attend(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)

    def forward(self, x):
        q, k, v = self.split(x)
        out = self.attend(q, k, v).transpose(1, 2).reshape(x.shape)
        return self.proj(out)


class ExplicitAttention(FusedAttention):
    def attend(self, q, k, v):
        return _explicit_attention(q, k, v)


def test_same_block_counts_the_same_fused_or_explicit():
    x = torch.randn(1, 20, 32)
    fused, explicit = FusedAttention(), ExplicitAttention()
    explicit.load_state_dict(fused.state_dict())
    projections = 20 * 32 * 96 + 20 * 32 * 32
    attention = 4 * 20 * 20 * (8 + 8)
    assert count_macs(fused, x) == count_macs(explicit, x) == projections + attention
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), explicit(x), atol=1e-5, rtol=1e-5)


def test_multihead_attention_module_is_counted_and_fastpath_restored():
    mha = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    x, memory = torch.randn(1, 6, 16), torch.randn(1, 9, 16)
    self_attn = count_macs(mha, x, x, x)
    assert self_attn == 4 * 6 * 16 * 16 + 6 * 6 * 2 * 16
    assert self_attn.uncounted == ()
    cross = count_macs(mha, x, memory, memory)
    assert cross == 2 * 6 * 16 * 16 + 2 * 9 * 16 * 16 + 6 * 9 * 2 * 16
    assert torch.backends.mha.get_fastpath_enabled()


class Siamese(nn.Module):
    """A toy tracker: shared conv backbone, depthwise cross-correlation in the top-level code."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.ReLU(), nn.Conv2d(8, 8, 3, bias=False))
        self.head = nn.Conv2d(8, 2, 1, bias=False)

    def forward(self, z, x):
        kernel, search = self.backbone(z), self.backbone(x)
        corr = F.conv2d(search.reshape(1, 8, *search.shape[2:]), kernel.reshape(8, 1, *kernel.shape[2:]), groups=8)
        return self.head(corr)


def test_per_module_attribution():
    model = Siamese()
    count = count_macs(model, torch.randn(1, 3, 9, 9), torch.randn(1, 3, 21, 21))
    conv1 = lambda side: (side - 2) ** 2 * 8 * 27  # noqa: E731
    conv2 = lambda side: (side - 4) ** 2 * 8 * 72  # noqa: E731
    assert count.by_module["backbone.0"] == conv1(9) + conv1(21)
    assert count.by_module["backbone.2"] == conv2(9) + conv2(21)
    assert count.by_module[""] == 8 * 13 * 13 * 25  # the functional xcorr, run by the root itself
    assert count.by_module["head"] == 13 * 13 * 8 * 2
    assert count == sum(count.by_module.values())
    assert count.by_block(depth=1) == {"backbone": count.by_module["backbone.0"] + count.by_module["backbone.2"], "": count.by_module[""], "head": 13 * 13 * 16}


def test_bound_method_names_modules_of_its_owner():
    model = Siamese()
    count = count_macs(model.backbone.forward, torch.randn(1, 3, 9, 9))
    assert set(count.by_module) == {"0", "2"}


def test_mac_count_is_an_int_and_pickles():
    count = count_macs(nn.Linear(4, 2), torch.randn(3, 4))
    assert isinstance(count, int) and count + 1 == 25 and f"{count:,}" == "24"
    again = pickle.loads(pickle.dumps(count))
    assert isinstance(again, MacCount) and again == 24 and again.by_module == count.by_module


def test_block_names():
    assert block_of("backbone.blocks.3.attn.qkv") == "backbone.blocks.3"
    assert block_of("backbone.layer1.0.conv1", 1) == "backbone"
    assert block_of("") == ""
    containers = {"box_head", "box_head.conv1"}
    assert block_of("box_head.conv1.0", 2, containers=containers) == "box_head.conv1"
    assert block_of("3.conv", 1) == "3"  # a Sequential root: its index is the first level
