package cluster

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	SilenceDriverLog()
	os.Exit(m.Run())
}
