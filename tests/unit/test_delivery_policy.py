"""The one failure policy (bot.delivery.policy): what each outcome of a send does to its row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.delivery import Done, Failed, NotReady, Policy, Retry, Scope, Unreachable
from bot.delivery.policy import MAX_ATTEMPTS, backoff, crashed, settlement_for

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
POLICY = Policy(give_up_after=24 * 3600.0, retry_cap=60.0, recheck_after=30.0)


def test_backoff_doubles_and_stops_at_the_cap() -> None:
    assert [backoff(n, 60.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(8, 60.0) == 60.0
    assert backoff(10_000, 60.0) == 60.0


def test_a_server_error_is_retried_for_hours_not_seconds() -> None:
    # Today's give-up window was ~15 s (1+2+4+8): an hour-long outage must keep the reply.
    now = T0 + timedelta(hours=1)
    result = settlement_for(Retry("502"), attempts=40, created_at=T0, now=now, policy=POLICY)
    assert (result.status, result.attempts) == ("pending", 41)
    assert result.not_before == now + timedelta(seconds=60)
    assert not result.keep_sending_mark


def test_a_call_is_given_up_once_its_retry_would_pass_the_deadline() -> None:
    now = T0 + timedelta(hours=24) - timedelta(seconds=10)
    result = settlement_for(Retry("502"), attempts=100, created_at=T0, now=now, policy=POLICY)
    assert result.status == "failed"
    assert result.attempts == 101
    assert result.error is not None and "502" in result.error


def test_no_answer_keeps_the_sending_mark_so_a_repeat_is_logged() -> None:
    result = settlement_for(
        Retry("reset", unknown=True), attempts=0, created_at=T0, now=T0, policy=POLICY
    )
    assert result.keep_sending_mark


def test_a_flood_reply_pauses_its_scope_and_counts_no_attempt() -> None:
    group = Scope.chat("-100")
    result = settlement_for(
        Retry("429", after=30.0, scope=group), attempts=2, created_at=T0, now=T0, policy=POLICY
    )
    assert (result.status, result.attempts, result.not_before) == ("pending", 2, None)
    assert result.pause == (group, T0 + timedelta(seconds=30))


def test_a_wait_the_platform_names_for_the_call_itself_sets_its_time() -> None:
    result = settlement_for(Retry("in flight", after=300.0), attempts=1, created_at=T0, now=T0,
                            policy=POLICY)  # fmt: skip
    assert (result.attempts, result.pause) == (1, None)
    assert result.not_before == T0 + timedelta(seconds=300)


def test_not_ready_keeps_the_row_and_pauses_the_whole_channel() -> None:
    result = settlement_for(NotReady("401"), attempts=3, created_at=T0, now=T0, policy=POLICY)
    assert (result.status, result.attempts) == ("pending", 3)
    assert result.pause == (Scope.channel(), T0 + timedelta(seconds=30))


def test_done_failed_and_unreachable_finish_the_row() -> None:
    done = settlement_for(Done("77"), attempts=2, created_at=T0, now=T0, policy=POLICY)
    assert (done.status, done.attempts, done.sent_id) == ("done", 3, "77")
    failed = settlement_for(Failed("bad request"), attempts=0, created_at=T0, now=T0, policy=POLICY)
    assert (failed.status, failed.error) == ("failed", "bad request")
    gone = settlement_for(
        Unreachable("42", "blocked"), attempts=0, created_at=T0, now=T0, policy=POLICY
    )
    assert gone.status == "failed"


def test_a_send_that_raised_is_a_bug_given_up_on_its_last_try_unless_an_outside_calls() -> None:
    reason = "crashed: KeyError"
    tries = [crashed(reason, passing=False, attempts=n) for n in range(MAX_ATTEMPTS)]
    assert tries[:-1] == [Retry(reason, unknown=True)] * (MAX_ATTEMPTS - 1)
    assert tries[-1] == Failed(reason)
    late = crashed("crashed: ConnectionResetError", passing=True, attempts=MAX_ATTEMPTS + 5)
    assert late == Retry("crashed: ConnectionResetError", unknown=True)  # until the deadline
