"""The proxy score of a child: a short fine-tune, then tracking a few validation sequences."""
from autoprune.proxy.evaluator import ProxyResult, ProxySettings, proxy_score

__all__ = ["ProxyResult", "ProxySettings", "proxy_score"]
