"""RoutingStrip: each generated token's top-1 expert in every MoE layer, filling in as the reply streams.

The Playground attaches one around :meth:`gptoss_lab.Lab.ask` when "live routing" is ticked. It records
with its own :class:`gptoss_lab.capture.RoutingCapture` (the Lab's trace only exists once the reply is
done), reads it on the Playground's throttled redraws, and restyles one heatmap in place. It needs a
local model with MoE layers; over a server there is nothing to record and the strip stays hidden.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go

from ..viz._common import integer_ticks, position_ticks, stepped_colorscale
from ..viz._figure import figure_widget

__all__ = ["RoutingStrip"]


class RoutingStrip(widgets.VBox):
    """A (layers x generated tokens) heatmap of top-1 experts; :meth:`attach`, :meth:`show`, :meth:`detach`."""

    def __init__(self) -> None:
        self.figure = figure_widget()
        self.redraws = 0
        self._capture: Any = None
        super().__init__([self.figure], layout=widgets.Layout(display="none"))
        self.add_class("gptoss-routing-strip")

    def attach(self, lab: Any) -> bool:
        """Start recording on ``lab``'s model (loading it); False, and hidden, where it has no MoE layers."""
        from ..capture import RoutingCapture, moe_layers

        model = lab.backend.local_model().model if "routing" in lab.capabilities else None
        if model is None or not moe_layers(model):
            self.layout.display = "none"
            return False
        self._capture = RoutingCapture(model).__enter__()
        self._reset(len(moe_layers(model)), int(model.config.num_local_experts))
        self.layout.display = None
        return True

    def show(self, n_prompt: int) -> None:
        """Redraw with every token routed so far after the first ``n_prompt`` (the prompt's)."""
        if self._capture is None or self._capture.complete_calls == 0:
            return
        _, experts, _ = self._capture.arrays()  # (T, L, k)
        top1 = experts[n_prompt:, :, 0].T  # (L, T')
        with self.figure.batch_update():
            self.figure.data[0].z = top1
            self.figure.data[0].x = list(range(top1.shape[1]))
            self.figure.update_xaxes(**position_ticks(top1.shape[1]))
        self.redraws += 1

    def detach(self) -> None:
        """Take the hooks off (always called, also when generation failed)."""
        if self._capture is not None:
            self._capture.remove()
            self._capture = None

    def _reset(self, n_layers: int, n_experts: int) -> None:
        import plotly.colors

        palette = plotly.colors.qualitative.Plotly if n_experts <= 10 else plotly.colors.qualitative.Dark24
        scale = stepped_colorscale(palette[:n_experts]) if n_experts <= 24 else "Viridis"
        heat = go.Heatmap(
            z=[[None]] * n_layers,
            x=[0],
            y=list(range(n_layers)),
            zmin=-0.5,
            zmax=n_experts - 0.5,
            colorscale=scale,
            name="top-1 expert",
            colorbar={"title": {"text": "top-1<br>expert"}, **integer_ticks(n_experts, 24)},
            hovertemplate="generated token %{x}, layer %{y}: expert %{z}<extra></extra>",
        )
        with self.figure.batch_update():
            self.figure.data = ()
            self.figure.add_trace(heat)
            self.figure.update_layout(
                title={"text": "Live routing: the top-1 expert of each generated token in each MoE layer"},
                height=120 + 28 * n_layers,
                margin={"t": 50, "b": 40},
            )
            self.figure.update_xaxes(title_text="generated token", **position_ticks(1))
            self.figure.update_yaxes(title_text="MoE layer", type="category")
