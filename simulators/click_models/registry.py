"""Click models by name: CLICK_MODEL_NAMES and make_click_model."""

from __future__ import annotations

from dataclasses import fields

from ltrr.errors import InvalidInputError, UnknownNameError
from simulators.click_models.base import ClickModel
from simulators.click_models.cascade import CascadeModel
from simulators.click_models.dbn import DynamicBayesianNetwork
from simulators.click_models.position import PositionBasedModel

_MODELS: dict[str, type[ClickModel]] = {
    "pbm": PositionBasedModel,
    "cascade": CascadeModel,
    "dbn": DynamicBayesianNetwork,
}

#: Names accepted by :func:`make_click_model`.
CLICK_MODEL_NAMES: tuple[str, ...] = tuple(_MODELS)


def make_click_model(name: str, **params: object) -> ClickModel:
    """Build a click model by name.

    Parameters
    ----------
    name : str
        ``"pbm"``, ``"cascade"`` or ``"dbn"`` (case and surrounding spaces ignored).
    **params
        Keyword parameters of the model's class (see :class:`PositionBasedModel`,
        :class:`CascadeModel`, :class:`DynamicBayesianNetwork`).

    Returns
    -------
    ClickModel
        The configured model.

    Raises
    ------
    UnknownNameError
        If ``name`` is not one of :data:`CLICK_MODEL_NAMES`.
    InvalidInputError
        If a parameter is unknown for that model or has a bad value.

    Examples
    --------
    >>> make_click_model("dbn", gamma=0.7, max_grade=4).gamma
    0.7
    """
    key = name.strip().lower() if isinstance(name, str) else name
    model_class = _MODELS.get(key) if isinstance(key, str) else None
    if model_class is None:
        raise UnknownNameError(
            f"unknown click model {name!r}; expected one of {', '.join(CLICK_MODEL_NAMES)}"
        )
    accepted = {f.name for f in fields(model_class)}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise InvalidInputError(
            f"unknown parameter(s) {', '.join(unknown)} for click model {key!r}; "
            f"expected some of {', '.join(sorted(accepted))}"
        )
    return model_class(**params)  # type: ignore[arg-type]
