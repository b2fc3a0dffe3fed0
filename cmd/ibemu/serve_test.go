package main

import (
	"strings"
	"testing"
)

func TestServeUsage(t *testing.T) {
	_, errOut, code := runCmd(t, "serve")
	if code != 2 || !strings.Contains(errOut, "TOPOLOGY") {
		t.Errorf("serve without a topology: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runCmd(t, "serve", "/nonexistent/topology.net")
	if code != 1 || !strings.Contains(errOut, "nonexistent") {
		t.Errorf("serve of a missing file: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runCmd(t, "serve", "--listen", "127.0.0.1:99999", "testdata/irregular.net")
	if code != 1 || !strings.Contains(errOut, "port") {
		t.Errorf("serve with a bad --listen: exit %d\n%s", code, errOut)
	}
}
