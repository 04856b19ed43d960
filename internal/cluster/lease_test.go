package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLease(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 2)
	a, b := rs[0], rs[1]
	ctx := context.Background()

	la, err := a.TryLease(ctx, "id1", time.Minute)
	if err != nil || la == nil {
		t.Fatalf("A TryLease = %v, %v; want the lease", la, err)
	}
	if lb, err := b.TryLease(ctx, "id1", time.Minute); lb != nil || err != nil {
		t.Fatalf("B TryLease while A holds it = %v, %v; want nil, nil", lb, err)
	}
	if err := b.WaitLease(ctx, "id1", 20*time.Millisecond); !errors.Is(err, ErrWaitTimeout) {
		t.Errorf("WaitLease while held = %v; want ErrWaitTimeout", err)
	}

	waited := make(chan error, 1)
	go func() { waited <- b.WaitLease(ctx, "id1", 5*time.Second) }()
	if ok, err := la.Release(ctx); !ok || err != nil {
		t.Fatalf("Release = %v, %v; want true", ok, err)
	}
	if err := <-waited; err != nil {
		t.Errorf("WaitLease after release = %v; want nil", err)
	}

	// A holder whose lease expired must not free the next holder's.
	la, _ = a.TryLease(ctx, "id2", time.Minute)
	srv.Client().Del(ctx, "test:lease:id2") // as if it expired
	lb, err := b.TryLease(ctx, "id2", time.Minute)
	if lb == nil || err != nil {
		t.Fatalf("B TryLease after expiry = %v, %v; want the lease", lb, err)
	}
	if ok, err := la.Release(ctx); ok || err != nil {
		t.Errorf("late Release by A = %v, %v; want false (not its lease any more)", ok, err)
	}
	if l, _ := a.TryLease(ctx, "id2", time.Minute); l != nil {
		t.Errorf("A took the lease B holds after A's late release")
	}

	// A holder that dies loses the lease by expiry.
	if l, _ := a.TryLease(ctx, "id3", 30*time.Millisecond); l == nil {
		t.Fatal("TryLease id3 failed")
	}
	if err := b.WaitLease(ctx, "id3", 5*time.Second); err != nil {
		t.Errorf("WaitLease on an expiring lease = %v; want nil", err)
	}
	if l, _ := b.TryLease(ctx, "id3", time.Minute); l == nil {
		t.Errorf("lease not free after its holder's expiry")
	}

	// Release runs even when the caller hung up.
	l4, _ := a.TryLease(ctx, "id4", time.Minute)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if ok, err := l4.Release(cctx); !ok || err != nil {
		t.Errorf("Release with a cancelled ctx = %v, %v; want true", ok, err)
	}
	// A waiter whose caller hangs up stops at once.
	if err := b.WaitLease(cctx, "id2", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitLease with a cancelled ctx = %v; want context.Canceled", err)
	}
}

func TestSpent(t *testing.T) {
	t.Parallel()
	_, rs := startCluster(t, 2)
	ctx := context.Background()
	fp := [32]byte{1, 2, 3}
	if spent, err := rs[1].IsSpent(ctx, fp); spent || err != nil {
		t.Fatalf("IsSpent before = %v, %v; want false", spent, err)
	}
	if err := rs[0].MarkSpent(ctx, fp, time.Minute); err != nil {
		t.Fatal(err)
	}
	if spent, err := rs[1].IsSpent(ctx, fp); !spent || err != nil {
		t.Errorf("IsSpent on another replica = %v, %v; want true", spent, err)
	}
	if spent, _ := rs[1].IsSpent(ctx, [32]byte{9}); spent {
		t.Errorf("another fingerprint is spent")
	}
}
