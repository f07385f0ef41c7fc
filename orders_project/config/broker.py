"""kombu's Redis transport, with one Redis client per channel instead of one per command.

kombu's Redis channel builds a new `redis.Redis` object for every command it sends outside its
polling loop: each task published, and twice per task taken by a worker with `acks_late` (the
unacked bookkeeping on receipt, and again on acknowledgement). redis-py fills a table of ~170
response callbacks per client, more CPU than the LPUSH round trip itself. Keeping the object
takes 28 % off the CPU of a publish and of a take and ack (tests/bench/broker_cost.py,
docs/performance.md). The objects are interchangeable: each command takes a connection from the
channel's pool and gives it back, which is why one client may serve every thread. Only the
object is kept; connections, pools, reconnection and errors are kombu's and redis-py's as before.

Used for `redis://` broker URLs (settings.CELERY_BROKER_TRANSPORT). Others (`rediss://`, whose
TLS kombu enables by the name of the scheme, Sentinel) keep kombu's own transport.
"""

from contextlib import contextmanager

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _shared_client = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        shared = self._shared_client
        # kombu drops the pool after a fork or a lost connection (and `pool` builds a new one):
        # a client of the old pool is replaced with it.
        if shared is None or shared.connection_pool is not self.pool:
            shared = self._shared_client = self._create_client()
        yield shared


class Transport(kombu_redis.Transport):
    Channel = Channel
