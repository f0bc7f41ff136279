"""An example Headrace plugin distribution: ``CounterSource`` (a source connector) and ``MultiplyValue``
(a transformation), registered through the ``headrace.plugins`` entry point group."""

from headrace_example_plugin.counter import VERSION, CounterSourceConnector, CounterSourceTask
from headrace_example_plugin.multiply import MultiplyValue

__version__ = VERSION
__all__ = ["CounterSourceConnector", "CounterSourceTask", "MultiplyValue"]
