"""Headrace's REST API: Apache Kafka Connect's REST interface over a :class:`~connect.runtime.herder.Herder`.

::

    from rest import RestServer, create_app

    server = RestServer(create_app(herder), "0.0.0.0", 8083)
    server.start()
    ...
    server.stop()

In distributed mode pass ``forward=HttpForwarder()`` so that writes reaching a follower are forwarded to
the leader, as Kafka Connect does.
"""

from rest.app import create_app
from rest.forward import Forwarder, ForwardError, HttpForwarder
from rest.loggers import LoggerLevels
from rest.server import RestServer

__all__ = ["ForwardError", "Forwarder", "HttpForwarder", "LoggerLevels", "RestServer", "create_app"]
