package cluster

import (
	"testing"
	"time"
)

// TestHealthStateMachine drives the health state directly, in the orders
// concurrent calls can produce, without a network.
func TestHealthStateMachine(t *testing.T) {
	t.Parallel()
	r := newReplica(t, "redis://127.0.0.1:1/0", randomKey(t))
	s := r.Store

	genUp, probe, ok := s.admit() // a call sent while up…
	if !ok || probe {
		t.Fatalf("admit while up = probe %v, ok %v; want a plain call", probe, ok)
	}
	genUp2, _, _ := s.admit() // …and another
	s.failed(genUp, false, "connection")
	if s.Healthy() {
		t.Fatal("a failure while up did not mark down")
	}
	s.succeeded(false) // the other call's late answer from before the outage
	if s.Healthy() {
		t.Error("a late success of a call sent before the outage marked Redis up")
	}
	s.failed(genUp2, false, "connection") // its twin failing: already down
	if _, _, ok := s.admit(); ok {
		t.Error("admitted a call before the probe interval")
	}
	r.clock.Advance(time.Second)
	gp, probe, ok := s.admit()
	if !ok || !probe {
		t.Fatalf("after the interval admit = probe %v, ok %v; want the probe", probe, ok)
	}
	if _, _, ok := s.admit(); ok {
		t.Error("admitted a second call while the probe is out")
	}
	s.failed(gp, true, "timeout") // the probe fails: wait another interval
	if _, _, ok := s.admit(); ok {
		t.Error("admitted a call right after a failed probe")
	}
	r.clock.Advance(time.Second)
	_, probe, _ = s.admit()
	s.succeeded(probe)
	if !s.Healthy() {
		t.Fatal("a successful probe did not mark up")
	}
	s.failed(genUp, false, "connection") // a straggler from before the recovery
	if !s.Healthy() {
		t.Error("a failure of a call sent before the recovery marked Redis down again")
	}
	if n, m := r.logs.Count("redis unavailable"), r.logs.Count("redis available again"); n != 1 || m != 1 {
		t.Errorf("logged %d outages, %d recoveries; want 1 and 1:\n%s", n, m, r.logs)
	}
}
