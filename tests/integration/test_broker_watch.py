"""When a worker gives up on its broker (agents/logic/broker_watch.py)."""

from agents.logic.broker_watch import BrokerWatch

NEWS0 = ("news", 0)


def test_a_short_outage_is_waited_out() -> None:
    watch = BrokerWatch(give_up_after_s=60)
    assert watch.observe(0, {NEWS0: 10}) is None
    assert watch.observe(5, None) is None
    assert watch.observe(50, None) is None
    assert watch.observe(55, {NEWS0: 12}) is None
    assert watch.observe(100, None) is None  # the clock restarts after a good probe


def test_a_long_outage_gives_up_with_the_duration() -> None:
    watch = BrokerWatch(give_up_after_s=60)
    watch.observe(0, None)
    reason = watch.observe(61, None)
    assert reason is not None and "unreachable for 61 s" in reason


def test_a_broker_that_came_back_empty_is_named() -> None:
    watch = BrokerWatch(give_up_after_s=60)
    watch.observe(0, {NEWS0: 10, ("news", 1): 4})
    reason = watch.observe(40, {NEWS0: 0, ("news", 1): 4})
    assert reason is not None and "news[0] went back from 10 to 0" in reason
    watch = BrokerWatch(give_up_after_s=60)
    watch.observe(0, {NEWS0: 10})
    reason = watch.observe(40, {})
    assert reason is not None and "no longer has news[0]" in reason


def test_growing_topics_are_fine() -> None:
    watch = BrokerWatch(give_up_after_s=60)
    for t, end in enumerate([0, 3, 3, 9]):
        assert watch.observe(t, {NEWS0: end}) is None


def test_probe_reads_end_offsets_from_a_live_broker_and_none_from_a_dead_port(broker_url: str) -> None:
    import time

    from kafka import KafkaProducer

    from streams.broker import ensure_topics, free_port, probe_broker
    from streams.settings import broker_url_to_servers
    from streams.topics import TopicNames

    servers = broker_url_to_servers(broker_url)
    names = TopicNames("probe-test.")
    ensure_topics(servers, 2, names)
    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    for _ in range(3):
        producer.send(names.news, b"x", partition=1).get(timeout=10)
    producer.close()
    ends = probe_broker(servers, [names.news, "probe-test.no-such-topic"])
    assert ends is not None
    assert ends[(names.news, 0)] == 0 and ends[(names.news, 1)] >= 1  # Tansu reports the last batch's start + 1
    assert not any(topic == "probe-test.no-such-topic" for topic, _ in ends)
    started = time.monotonic()
    assert probe_broker([f"127.0.0.1:{free_port()}"], [names.news]) is None
    assert time.monotonic() - started < 3
