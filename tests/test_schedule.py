"""The retraining policy as scenario tables: when a training is due, on which days, and which model scores a day."""

from __future__ import annotations

import pytest

from contrail.config import ConfigError
from contrail.training import schedule
from contrail.training.schedule import Policy, day_range

MAY = day_range("2013-05-01", "2013-06-30")
POLICY = Policy(window_days=14, max_age_days=21, min_days=7, cooldown_days=5)


def walk(through="2013-06-30", usable=MAY, trained=(), policy=POLICY, alarms=None, unknown=()):
    """The walk with `alarms` (day -> reasons) known for every day but `unknown`."""
    def alarm(day):
        return None if day in unknown else (alarms or {}).get(day, [])
    return schedule.walk(through, list(usable), set(trained), policy, alarm)


@pytest.mark.parametrize("trained, alarms, due, reason", [
    ((), {}, "2013-05-07", "first window"),  # the 7th usable day: the first window holding min_days
    (("2013-05-07",), {}, "2013-05-28", "model 21 days old"),
    (("2013-05-07",), {"2013-05-10": ["x"]}, "2013-05-28", "model 21 days old"),  # 3 days after a training: cooldown
    (("2013-05-07",), {"2013-05-12": ["prediction drifted"]}, "2013-05-12", "alarm: prediction drifted"),  # 5 days: due
    (("2013-05-07", "2013-05-12"), {"2013-05-12": ["x"], "2013-05-20": ["y"]}, "2013-05-20", "alarm: y"),
    (("2013-05-07", "2013-05-15"), {}, "2013-06-05", "model 21 days old"),  # a manual training restarts the age
])
def test_the_due_training(trained, alarms, due, reason):
    result = walk(trained=trained, alarms=alarms)
    assert (result.due.day, result.due.reason, result.waiting) == (due, reason, None)
    assert result.due.days == tuple(d for d in MAY if schedule.shift(due, -13) <= d <= due)  # the 14 days ending on it


def test_a_window_leaves_out_refused_days_and_a_day_that_failed_cannot_be_due():
    usable = [d for d in MAY if d not in ("2013-05-03", "2013-05-12")]
    first = walk(usable=usable).due
    assert first.day == "2013-05-08" and "2013-05-03" not in first.days and len(first.days) == 7
    # 05-12 alarmed, but its features failed quality: it is not a day of the walk; the next alarm past it is due
    due = walk(usable=usable, trained=["2013-05-08"], alarms={"2013-05-12": ["x"], "2013-05-14": ["y"]}).due
    assert (due.day, due.reason) == ("2013-05-14", "alarm: y")
    thin = walk(usable=[d for d in MAY if d >= "2013-06-01" or d <= "2013-05-07"], trained=["2013-05-07"]).due
    assert thin.day == "2013-06-07"  # past its age, but a window needs 7 usable days: due once it holds them


def test_while_the_gate_has_refused_every_model_each_next_day_is_due():
    refused = schedule.walk("2013-06-30", MAY, {"2013-05-07"}, POLICY, lambda d: [], promoted=set())
    assert (refused.due.day, refused.due.reason) == ("2013-05-08", "no champion yet: the gate refused every model so far")
    after = schedule.walk("2013-06-30", MAY, {"2013-05-07", "2013-05-08"}, POLICY, lambda d: [], promoted={"2013-05-08"})
    assert after.due.day == "2013-05-29"  # a champion exists: the model's age decides again


def test_each_refused_training_in_a_row_doubles_the_cooldown_until_a_promotion():
    every_day = {d: ["decayed"] for d in MAY}  # monitoring alarms every day: the cooldown alone decides

    def due(trained, promoted, policy=POLICY):
        return schedule.walk("2013-06-30", MAY, set(trained), policy, every_day.get, promoted=set(promoted)).due

    assert due(["2013-05-07"], ["2013-05-07"]).day == "2013-05-12"  # promoted: the 5-day cooldown
    refused_once = due(["2013-05-07", "2013-05-12"], ["2013-05-07"])
    assert (refused_once.day, refused_once.reason) == (
        "2013-05-22", "alarm: decayed (cooldown 10 days after 1 refused training(s) in a row)")
    assert due(["2013-05-07", "2013-05-12", "2013-05-22"], ["2013-05-07"]).day == "2013-06-11"  # 20 days
    # three in a row: 40 days, but never longer than the model's maximum age (21): the age makes it due first
    assert (due(["2013-05-07", "2013-05-12", "2013-05-22", "2013-06-01"], ["2013-05-07"]).reason) == "model 21 days old"
    assert due(["2013-05-07", "2013-05-12", "2013-05-22"], ["2013-05-07", "2013-05-22"]).day == "2013-05-27"  # promoted
    assert due(["2013-05-07", "2013-05-12"], ["2013-05-07"], Policy(**{**POLICY.__dict__, "backoff": False})).day == "2013-05-17"
    assert [schedule.alarm_cooldown(Policy(cooldown_days=7, max_age_days=0, window_days=28), n) for n in range(4)] == [7, 14, 28, 28]


def test_the_walk_waits_for_what_it_cannot_know_yet():
    assert walk(through="2013-05-06").due is None  # six settled days: no window holds seven yet
    assert walk(through=None).due is None
    waiting = walk(trained=["2013-05-07"], unknown={"2013-05-13"})  # 05-12 judged, 05-13 not (rescoring, monitoring)
    assert waiting.due is None and waiting.waiting == "2013-05-13: waiting for its monitoring on the model due 2013-05-07"
    no_alarms = Policy(**{**POLICY.__dict__, "alarms": False})
    assert walk(trained=["2013-05-07"], unknown={"2013-05-13"}, policy=no_alarms).due.day == "2013-05-28"
    assert walk(policy=Policy(**{**POLICY.__dict__, "start": "2013-06-01"})).due.day == "2013-06-01"  # windows reach back


@pytest.mark.parametrize("settled, landed, through", [
    ({"2013-05-01", "2013-05-02", "2013-05-04"}, {"2013-05-01", "2013-05-02", "2013-05-03", "2013-05-04"}, "2013-05-02"),
    ({"2013-05-01", "2013-05-02", "2013-05-04"}, {"2013-05-01", "2013-05-02", "2013-05-04"}, "2013-05-02"),  # a hole...
    (set(day_range("2013-05-01", "2013-05-10")) - {"2013-05-03"}, set(day_range("2013-05-01", "2013-05-10")) - {"2013-05-03"},
     "2013-05-10"),  # ... counts as missing once a day 7 later is settled
    (set(), {"2013-05-01"}, None),
])
def test_the_last_settled_day(settled, landed, through):
    assert schedule.settled_through(settled, landed) == through


def event(seq, action, version, due, after):
    return {"seq": seq, "action": action, "version": version, "due": due, "champion_after": after}


def test_the_model_as_of_a_day_follows_the_data_dates_not_the_order_decisions_were_taken_in():
    history = [event(1, "promoted", "1", "2013-05-07", "1"), event(2, "refused", "2", "2013-05-14", "1"),
               event(3, "promoted", "3", "2013-05-21", "3"), {"seq": 4, "action": "rolled_back", "version": "1"}]
    expected = {"2013-05-01": "1", "2013-05-07": "1", "2013-05-08": "1", "2013-05-15": "1", "2013-05-21": "1",
                "2013-05-22": "3", "2013-06-30": "3"}
    assert {day: schedule.as_of(day, history) for day in expected} == expected
    late = [{**e, "seq": 4 - e["seq"]} for e in history[:3]]  # the same decisions, taken in the reverse order
    assert {day: schedule.as_of(day, late) for day in expected} == expected
    assert schedule.as_of("2013-05-01", []) is None
    refused_first = [event(1, "refused", "1", "2013-05-07", None), event(2, "promoted", "2", "2013-05-14", "2")]
    assert [schedule.as_of(d, refused_first) for d in ("2013-05-08", "2013-05-15")] == ["2", "2"]


def test_the_policy_settings_are_checked():
    assert Policy.from_settings({}) == Policy()
    assert Policy.from_settings({"CONTRAIL_RETRAIN_MAX_AGE_DAYS": "0", "CONTRAIL_RETRAIN_ON_ALARM": "false"}) == Policy(
        max_age_days=0, alarms=False)
    for environ, message in [({"CONTRAIL_WINDOW_DAYS": "four"}, "CONTRAIL_WINDOW_DAYS='four' is not a whole number"),
                             ({"CONTRAIL_MIN_WINDOW_DAYS": "30"}, "exceeds CONTRAIL_WINDOW_DAYS=28"),
                             ({"CONTRAIL_RETRAIN_ON_ALARM": "maybe"}, "say true or false"),
                             ({"CONTRAIL_SCHEDULE_START": "May 1"}, "is not a date")]:
        with pytest.raises(ConfigError, match=message):
            Policy.from_settings(environ)
