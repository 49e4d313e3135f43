"""The proxy score of a child: a short fine-tune, then tracking a few validation sequences."""
from autoprune.proxy.evaluator import VALIDATION_RECIPE, ProxyResult, ProxySettings, finetune_child, proxy_score

__all__ = ["VALIDATION_RECIPE", "ProxyResult", "ProxySettings", "finetune_child", "proxy_score"]
