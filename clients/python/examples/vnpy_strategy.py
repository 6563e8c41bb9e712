#!/usr/bin/env python3
"""A VnPy-flavoured strategy that publishes to signalgate with :class:`signalgate.Writer`.

``on_bar`` computes the state of each bar and hands it to the writer as the instance's
snapshot (coalesced to one upsert per 0.5 s, so a fast replay or tick-driven updates do not
flood the database); a completed TD9 count is a ``signal`` event, a flip of the "dull top"
state a ``state_change`` event, a large move an ``alert``. Keys are built from the bar, so
replaying the same bars adds no duplicate event.

With VnPy installed, subclass ``CtaTemplate`` the same way (``SignalgateMixin`` below does the
publishing); without it this file runs stand-alone on synthetic bars::

    pip install "./clients/python[mysql]"        # or [postgres]
    python3 clients/python/examples/vnpy_strategy.py \\
        --url mysql://root@127.0.0.1:3306/signals --variant td9_demo --instance inst-01 --bars 60
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Optional

from signalgate import Writer

try:  # the real thing when VnPy is installed
    from vnpy.trader.object import BarData  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - a stand-in with the fields used here

    @dataclass
    class BarData:  # type: ignore[no-redef]
        """The fields of ``vnpy.trader.object.BarData`` this example reads."""

        symbol: str
        exchange: str
        datetime: datetime
        close_price: float
        volume: float = 0.0

        @property
        def vt_symbol(self) -> str:
            return f"{self.symbol}.{self.exchange}"


class SignalgateMixin:
    """Publishes a strategy's state and signals; mix into a ``CtaTemplate``."""

    def init_signalgate(self, writer: Writer, variant: str, instance_id: str) -> None:
        self.sg_writer, self.sg_variant, self.sg_instance = writer, variant, instance_id

    def publish_snapshot(self, bar: Any, payload: Dict[str, Any]) -> None:
        self.sg_writer.snapshot(self.sg_variant, self.sg_instance, payload,
                                bar_dt=bar.datetime, bar_interval="1m", bar_window=1)

    def publish_signal(self, bar: Any, signal_type: str, **payload: Any) -> None:
        self.sg_writer.signal(self.sg_variant, self.sg_instance, bar.vt_symbol, bar.datetime,
                              signal_type, payload)

    def publish_state_change(self, bar: Any, name: str, old: Any, new: Any) -> None:
        self.sg_writer.state_change(self.sg_variant, self.sg_instance, bar.vt_symbol,
                                    bar.datetime, name, old, new)

    def publish_alert(self, bar: Any, alert_type: str, **payload: Any) -> None:
        self.sg_writer.alert(self.sg_variant, self.sg_instance, bar.vt_symbol, bar.datetime,
                             alert_type, payload, bar_dt=bar.datetime)


class Td9Strategy(SignalgateMixin):
    """A toy TD-sequential: counts closes above/below the close four bars earlier."""

    def __init__(self, writer: Writer, variant: str, instance_id: str) -> None:
        self.init_signalgate(writer, variant, instance_id)
        self.closes: Dict[str, list] = {}
        self.count: Dict[str, int] = {}
        self.dull_top: Dict[str, bool] = {}
        self.last_signal: Dict[str, Optional[Dict[str, Any]]] = {}
        self.instruments: Dict[str, Dict[str, Any]] = {}

    def on_bar(self, bar: Any) -> None:
        sym = bar.vt_symbol
        closes = self.closes.setdefault(sym, [])
        closes.append(bar.close_price)
        up = len(closes) > 4 and closes[-1] > closes[-5]
        self.count[sym] = self.count.get(sym, 0) + 1 if up else 0
        if self.count[sym] == 9:
            self.count[sym] = 0
            signal = {"signal_type": "sell", "reason": "td9", "price": bar.close_price}
            self.last_signal[sym] = signal
            self.publish_signal(bar, "sell", reason="td9", price=bar.close_price)
        dull = len(closes) > 20 and bar.close_price >= max(closes[-20:])
        old = self.dull_top.get(sym, False)
        if dull != old:
            self.dull_top[sym] = dull
            self.publish_state_change(bar, "dull_top", old, dull)
        if len(closes) > 1 and abs(closes[-1] / closes[-2] - 1) > 0.006:
            self.publish_alert(bar, "price_jump", level="warn", price=bar.close_price)
        self.instruments[sym] = {
            "calc_bar_dt": bar.datetime.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "td_count": self.count[sym],
            "status": {"dull_top": self.dull_top.get(sym, False)},
            "last_signal": self.last_signal.get(sym),
            "last_price": bar.close_price,
        }
        self.publish_snapshot(bar, {"instruments": self.instruments})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="mysql://, postgres:// or sqlite:// URL")
    ap.add_argument("--variant", default="td9_demo")
    ap.add_argument("--instance", default="inst-01")
    ap.add_argument("--bars", type=int, default=60)
    ap.add_argument("--symbols", default="rb2405.SHFE,hc2405.SHFE")
    args = ap.parse_args()
    rng = random.Random(f"{args.variant}|{args.instance}")  # same bars, same keys on a rerun
    start = datetime(2026, 11, 21, 1, 0, tzinfo=timezone.utc)
    with Writer(args.url) as writer:
        strategy = Td9Strategy(writer, args.variant, args.instance)
        prices = {s: 3600.0 for s in args.symbols.split(",") if s}
        for i in range(args.bars):
            for vt_symbol in prices:
                prices[vt_symbol] = round(prices[vt_symbol] * (1 + rng.uniform(-0.005, 0.006)), 1)
                symbol, exchange = vt_symbol.split(".")
                strategy.on_bar(BarData(symbol=symbol, exchange=exchange,
                                        datetime=start + timedelta(minutes=i),
                                        close_price=prices[vt_symbol]))
        print(f"{args.bars} bars: {writer.stats['snapshots_written']} snapshot upserts "
              f"({writer.stats['coalesced']} coalesced)")


if __name__ == "__main__":
    main()
