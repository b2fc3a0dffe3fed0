package host_test

import (
	"os"
	"testing"

	"github.com/ibemu/ibemu/stack/host/hosttest"
)

func TestMain(m *testing.M) {
	hosttest.MaybeServe()
	os.Exit(m.Run())
}
