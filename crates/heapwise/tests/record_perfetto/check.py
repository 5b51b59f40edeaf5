#!/usr/bin/env python3
"""Decodes a heapwise Perfetto protobuf trace with Perfetto's own Python
protos and prints a JSON summary on stdout, for tests/record_perfetto.rs.

Usage: check.py FILE

Exit status 3 (and a note on stderr) when the `perfetto` package cannot be
imported; the test decides whether that is a skip or a failure.

The summary:
  problems:  what is wrong with the trace (empty when it is sound): fields
             unknown to the protos (a wrong field number), packets without
             a sequence id, events without a timestamp or on another clock
             than CLOCK_MONOTONIC (6), annotations of a value kind heapwise
             never writes, events on undeclared tracks, time
             going back on a track or a sequence, slice ends without a
             begin, slices left open.
  processes: [{uuid, pid, name, labels}]
  threads:   [{uuid, pid, tid, name}]
  slices:    {thread name: [{name, category, depth, begin, end, args,
             arg_kinds}]}
             in begin order (depth 0 is outermost)
  instants:  [{track, name, category, ts, args, arg_kinds}]  (track: thread
             or process name; arg_kinds: the DebugAnnotation value field of
             each argument, e.g. uint_value)
  counters:  {track name: {unit, parent, values: [[ts, value], ...]}}
  packets:   the number of packets
"""

import json
import sys

try:
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent
    from google.protobuf import unknown_fields
except ImportError as e:  # the test skips (or fails when required)
    print(f"cannot import the perfetto protos: {e}", file=sys.stderr)
    sys.exit(3)

CLOCK_MONOTONIC = 6


def unknown(msg, path, problems):
    """Reports fields the protos do not know, at any depth."""
    n = len(unknown_fields.UnknownFieldSet(msg))
    if n:
        problems.append(f"{path}: {n} unknown field(s)")
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated:
            for i, v in enumerate(value):
                unknown(v, f"{path}.{field.name}[{i}]", problems)
        else:
            unknown(value, f"{path}.{field.name}", problems)


# The value kinds heapwise writes: anything else is a wrong field number.
KINDS = {"bool_value", "uint_value", "int_value", "double_value", "string_value", "pointer_value"}


def args(ev, where, problems):
    """The debug annotations as {name: value} and {name: kind}."""
    values, kinds = {}, {}
    for a in ev.debug_annotations:
        kind = a.WhichOneof("value")
        if kind not in KINDS:
            problems.append(f"{where}: annotation {a.name!r} has value kind {kind}")
            continue
        v = getattr(a, kind)
        values[a.name] = hex(v) if kind == "pointer_value" else v
        kinds[a.name] = kind
    return values, kinds


def main(path):
    with open(path, "rb") as f:
        data = f.read()
    trace = Trace()
    trace.ParseFromString(data)
    problems = []
    processes, threads, counters = [], [], {}
    tracks = {}  # uuid -> ("process" | "thread" | "counter", display name)
    slices, instants = {}, []
    open_slices = {}  # uuid -> [slice]
    last_ts_track, last_ts_seq = {}, {}
    for i, p in enumerate(trace.packet):
        where = f"packet {i}"
        unknown(p, where, problems)
        if not p.HasField("trusted_packet_sequence_id") or p.trusted_packet_sequence_id == 0:
            problems.append(f"{where}: no trusted_packet_sequence_id")
        seq = p.trusted_packet_sequence_id
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            if d.uuid in tracks:
                problems.append(f"{where}: track {d.uuid} described twice")
            if d.HasField("process"):
                processes.append(
                    {
                        "uuid": d.uuid,
                        "pid": d.process.pid,
                        "name": d.process.process_name,
                        "labels": list(d.process.process_labels),
                    }
                )
                tracks[d.uuid] = ("process", d.process.process_name)
            elif d.HasField("thread"):
                threads.append(
                    {
                        "uuid": d.uuid,
                        "pid": d.thread.pid,
                        "tid": d.thread.tid,
                        "name": d.thread.thread_name,
                    }
                )
                tracks[d.uuid] = ("thread", d.thread.thread_name)
            elif d.HasField("counter"):
                unit = d.counter.DESCRIPTOR.fields_by_name["unit"].enum_type.values_by_number[
                    d.counter.unit
                ].name
                parent = tracks.get(d.parent_uuid, (None, None))
                if parent[0] != "process":
                    problems.append(f"{where}: counter track {d.name} not under the process")
                counters[d.name] = {"unit": unit, "parent": parent[1], "values": []}
                tracks[d.uuid] = ("counter", d.name)
            else:
                problems.append(f"{where}: a track that is no process, thread or counter")
            continue
        if not p.HasField("track_event"):
            problems.append(f"{where}: neither a track descriptor nor a track event")
            continue
        ev = p.track_event
        if not p.HasField("timestamp"):
            problems.append(f"{where}: no timestamp")
        if p.timestamp_clock_id != CLOCK_MONOTONIC:
            problems.append(f"{where}: clock {p.timestamp_clock_id}, not CLOCK_MONOTONIC")
        ts = p.timestamp
        track = tracks.get(ev.track_uuid)
        if track is None:
            problems.append(f"{where}: event on undeclared track {ev.track_uuid}")
            continue
        for key, last in ((ev.track_uuid, last_ts_track), (seq, last_ts_seq)):
            if ts < last.get(key, 0):
                problems.append(f"{where}: time went back on {key}: {last[key]} then {ts}")
            last[key] = ts
        kind = TrackEvent.Type.Name(ev.type)
        cat = list(ev.categories)
        if kind == "TYPE_SLICE_BEGIN":
            stack = open_slices.setdefault(ev.track_uuid, [])
            s = {
                "name": ev.name,
                "category": cat[0] if cat else None,
                "depth": len(stack),
                "begin": ts,
                "end": None,
            }
            s["args"], s["arg_kinds"] = args(ev, where, problems)
            stack.append(s)
            slices.setdefault(track[1], []).append(s)
        elif kind == "TYPE_SLICE_END":
            stack = open_slices.get(ev.track_uuid, [])
            if not stack:
                problems.append(f"{where}: slice end without a begin on {track[1]}")
            else:
                stack.pop()["end"] = ts
        elif kind == "TYPE_INSTANT":
            values, kinds = args(ev, where, problems)
            instants.append(
                {
                    "track": track[1],
                    "name": ev.name,
                    "category": cat[0] if cat else None,
                    "ts": ts,
                    "args": values,
                    "arg_kinds": kinds,
                }
            )
        elif kind == "TYPE_COUNTER":
            if track[0] != "counter":
                problems.append(f"{where}: a counter value on a {track[0]} track")
                continue
            if ev.HasField("counter_value"):
                value = ev.counter_value
            elif ev.HasField("double_counter_value"):
                value = ev.double_counter_value
            else:
                problems.append(f"{where}: a counter event without a value")
                continue
            counters[track[1]]["values"].append([ts, value])
        else:
            problems.append(f"{where}: unexpected event type {kind}")
    for uuid, stack in open_slices.items():
        if stack:
            problems.append(
                f"slices left open on {tracks[uuid][1]}: {[s['name'] for s in stack]}"
            )
    json.dump(
        {
            "problems": problems,
            "processes": processes,
            "threads": threads,
            "slices": slices,
            "instants": instants,
            "counters": counters,
            "packets": len(trace.packet),
        },
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
