package clientgate

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestGate: the first request probes while the others wait; a rejected
// client's error answers every request for Period, started once; then one
// request probes again, and an answer verifies the client.
func TestGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &Gate{Period: time.Minute}
		probe, bad, err := g.Admit(context.Background())
		if !probe || bad != nil || err != nil {
			t.Fatalf("first Admit() = %v, %v, %v; want a probe", probe, bad, err)
		}
		waited := make(chan error, 1)
		go func() {
			_, bad, _ := g.Admit(context.Background())
			waited <- bad
		}()
		synctest.Wait()
		select {
		case <-waited:
			t.Fatal("a second request went through while the probe was out")
		default:
		}
		rejected := errors.New("client rejected")
		if started, period := g.Settle(true, true, rejected); !started || period != time.Minute {
			t.Errorf("Settle(rejected) = %v, %v; want a new one-minute period", started, period)
		}
		if got := <-waited; got != rejected {
			t.Errorf("waiting request got %v; want the remembered error", got)
		}
		if started, _ := g.Settle(false, true, rejected); started {
			t.Error("a second rejection in the period started another period")
		}
		time.Sleep(time.Minute + time.Second) // synctest's fake clock: the period ends
		probe, bad, _ = g.Admit(context.Background())
		if !probe || bad != nil {
			t.Fatalf("Admit() after the period = %v, %v; want a probe", probe, bad)
		}
		g.Settle(true, true, nil)
		if verified, probing := g.Status(); !verified || probing {
			t.Errorf("Status() = %v, %v; want verified, not probing", verified, probing)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if probe, bad, err := g.Admit(ctx); probe || bad != nil || err != nil {
			t.Errorf("Admit() of a verified client = %v, %v, %v; want through", probe, bad, err)
		}
	})
}
