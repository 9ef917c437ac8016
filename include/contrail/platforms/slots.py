"""What the cloud platform modules build their slots from, defined once.

A platform module is imported when a DAG file parses, so it must cost nothing: `cloud` wraps a provider operator
in CloudOperator (the provider is imported when the task runs), `empty` fills a slot a mode leaves out, and
`later` makes a module-level function whose implementation is imported only when it is called.
"""

from __future__ import annotations

import importlib


def cloud(provider: str | None):
    """`f(task_id, operator, request, **kwargs)`: CloudOperator running `<provider>.<operator>` (or `operator`, a
    dotted path in full, when `provider` is None)."""

    def build(task_id: str, operator: str, request, **kwargs):
        from contrail_plugins.cloud import CloudOperator

        return CloudOperator(task_id=task_id, operator=f"{provider}.{operator}" if provider else operator, request=request, **kwargs)

    return build


def empty(task_id: str, doc: str, **kwargs):
    """A slot this platform or mode has nothing for: an EmptyOperator saying why (the DAG keeps its shape)."""
    from airflow.providers.standard.operators.empty import EmptyOperator

    return EmptyOperator(task_id=task_id, doc_md=doc, **kwargs)


def later(target: str, *first):
    """The function at `package.module:name`, imported when called, with `first` as its leading arguments."""
    module, _, name = target.partition(":")

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*first, *args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"{target}, imported when called" + (f", with {first!r} first" if first else "")
    return call


def settings_first(target: str, settings: str):
    """`later(target)` called with the platform's settings (`package.module:load()`, read at call time) first."""
    impl, load = later(target), later(settings)

    def call(*args, **kwargs):
        return impl(load(), *args, **kwargs)

    call.__name__ = call.__qualname__ = impl.__name__
    call.__doc__ = f"{target}, imported when called, with the settings of {settings} first"
    return call
