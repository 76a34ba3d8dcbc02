#!/usr/bin/python3
"""Subscribe to the sso alert stream with pyzmq (Debian: python3-zmq) and print each alert.

    python3 examples/listen.py tcp://127.0.0.1:5556 [--replay tcp://127.0.0.1:5557] [--count N]

Messages are [topic, JSON]; topics sso.v1.slow / .fast (alerts), .retract (an alert withdrawn;
numbered like alerts), .hb (heartbeats), .quartet (one summary per observation).
With --replay, history is asked for first ("since-seq 0"), then live alerts already seen (seq <=
the last one printed) are dropped: the zguide Clone pattern that `sso listen` implements in full.
"""
import argparse
import json

import zmq

ap = argparse.ArgumentParser()
ap.add_argument("connect")
ap.add_argument("--replay")
ap.add_argument("--count", type=int, default=0)
ap.add_argument("--timeout", type=float, default=30.0)
args = ap.parse_args()

ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.connect(args.connect)
sub.setsockopt(zmq.SUBSCRIBE, b"sso.v1.")  # subscribe before asking for history
last_seq, printed = 0, 0


def show(topic, msg):
    """Prints one alert or retraction, once; returns 1 if an alert was printed."""
    global last_seq
    a = json.loads(msg)
    if a.get("kind") not in ("alert", "retract") or a["seq"] <= last_seq:
        return 0
    last_seq = a["seq"]
    if a["kind"] == "retract":
        print(f'{a["seq"]} {topic} withdrawn: {a["alert_id"]}', flush=True)
        return 0
    o = a["obs"][0]
    print(f'{a["seq"]} {topic} {a["trkSub"]} {a["alert_id"]} ra={o["ra"]:.6f} dec={o["dec"]:+.6f} '
          f'rate={a["motion"]["rate"]}"/h mag={o["mag"]}', flush=True)
    return 1


if args.replay:
    req = ctx.socket(zmq.DEALER)
    req.connect(args.replay)
    more = True
    while more:  # the service answers at most 1000 per request: ask again while "more"
        req.send(b"since-seq %d" % last_seq)
        more = False
        while req.poll(int(args.timeout * 1000)):
            topic, msg = req.recv_multipart()
            if topic == b"sso.v1.replay.end":
                more = json.loads(msg)["more"]
                break
            if topic == b"sso.v1.replay.error":
                raise SystemExit("replay: " + json.loads(msg)["error"])
            printed += show(topic.decode(), msg)
    req.close()

while not args.count or printed < args.count:
    if not sub.poll(int(args.timeout * 1000)):
        break
    topic, msg = sub.recv_multipart()
    if topic in (b"sso.v1.slow", b"sso.v1.fast", b"sso.v1.retract"):
        printed += show(topic.decode(), msg)
ctx.destroy()
raise SystemExit(0 if printed >= args.count else 1)
