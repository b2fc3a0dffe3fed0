package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/host"
)

// TestHelperProcess runs ibemu's command line in a child process for the
// tests that need a process to die (see runChild).
func TestHelperProcess(t *testing.T) {
	if os.Getenv("IBEMU_HELPER_PROCESS") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(os.Stdout, os.Stderr, args))
}

// runChild runs ibemu args in a child process with extra environment.
func runChild(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--"}, args...)...)
	cmd.Env = append(append(os.Environ(), "IBEMU_HELPER_PROCESS=1"), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func mustCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("ibemu %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func newHostRoot(t *testing.T, extra ...string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "node1")
	mustCmd(t, append([]string{"host", "create", "--host", root, "--os", "server2008", "--arch", "x64", "--name", "node1",
		"--hca", "ConnectX-2-QDR-2p", "--hca", "InfiniHost-III-Ex"}, extra...)...)
	return root
}

func TestMsiexecLifecycle(t *testing.T) {
	root := newHostRoot(t)
	// Unattended without the publisher's certificate fails, and nothing changes.
	before, _ := host.TakeSnapshot(root)
	_, errOut, code := runCmd(t, "msiexec", "--host", root, "start/wait", "msiexec.exe", "/i", "WinOF_2-2-1_wlh_x64.msi", "/qn", "/quiet")
	if code != 1 || !strings.Contains(errOut, "Trusted Publishers") || !strings.Contains(errOut, "exit code 1603") {
		t.Fatalf("untrusted: exit %d: %s", code, errOut)
	}
	if after, _ := host.TakeSnapshot(root); len(before.Diff(after)) > 0 {
		t.Fatalf("failed install changed the host: %v", before.Diff(after))
	}
	mustCmd(t, "host", "trust", "--host", root)
	out := mustCmd(t, "msiexec", "--host", root, "/i", "WinOF_2-2-1_wlh_x64.msi", "/qn", "/quiet", "/log", `%TEMP%\WinOF-install.log`, "OSMS=1")
	if !strings.Contains(out, "installed WinOF 2.2.1 x64") || !strings.Contains(out, "exit code 3010") {
		t.Errorf("install output:\n%s", out)
	}
	if h, err := host.Open(root); err != nil || !h.Exists(`%TEMP%\WinOF-install.log`) {
		t.Errorf("no log: %v", err)
	} else {
		h.Close()
	}
	vstat := mustCmd(t, "vstat", "--host", root)
	if strings.Count(vstat, "hca_idx=") != 2 || !strings.Contains(vstat, "vendor_part_id=25218") {
		t.Errorf("vstat:\n%s", vstat)
	}
	show := mustCmd(t, "host", "show", "--host", root)
	for _, want := range []string{"release: WinOF 2.2.1, file version 2.2.1.2778", "service: OpenSM (InfiniBand Subnet Manager) auto, running", "osm.log"} {
		if !strings.Contains(show, want) {
			t.Errorf("host show lacks %q:\n%s", want, show)
		}
	}
	scan := mustCmd(t, "ibscan", "--host", root)
	if !strings.Contains(scan, `C:\Windows\System32\drivers\mthca.sys`) {
		t.Errorf("ibscan:\n%s", scan)
	}
	code_ := productCode(t, root)
	out = mustCmd(t, "msiexec", "--host", root, "start/wait", "msiexec.exe", "/x", code_, "/quiet", "/forcerestart")
	if !strings.Contains(out, "exit code 1641") {
		t.Errorf("uninstall:\n%s", out)
	}
	if scan := mustCmd(t, "ibscan", "--host", root); scan != "" {
		t.Errorf("left after uninstall:\n%s", scan)
	}
}

func productCode(t *testing.T, root string) string {
	t.Helper()
	h, err := host.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p := h.Products()
	if len(p) != 1 {
		t.Fatalf("products %+v", p)
	}
	return p[0].Code
}

func TestMsiexecBadInput(t *testing.T) {
	root := newHostRoot(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"msiexec", "--host", root, "/i", "WinOF_2-2-1_wlh_x64.msi", "targetdir=C:\\x"}, 2, "TARGETDIR is not a property of an install"},
		{[]string{"msiexec", "--host", root, "/a", "WinOF_2-2-1_wlh_x64.msi", "targetdir=C:\\x"}, 2, "did you mean TARGETDIR"},
		{[]string{"msiexec", "--host", root, "/i", "WinOF_2-2-1_wlh_x64.msi", "ADDLOCAL=fipoib"}, 2, "feature names are case-sensitive"},
		{[]string{"msiexec", "--host", root, "/i"}, 2, "needs a package"},
		{[]string{"msiexec", "--host", root, "/j", "x.msi"}, 2, "unknown option /j"},
		{[]string{"msiexec", "/i", "x.msi"}, 2, "no host"},
		{[]string{"msiexec", "--host", root, "/a", "WinOF_2-2-1_wlh_x64.msi", `TARGETDIR=C:\Windows`}, 1, "must not exist"},
		{[]string{"msiexec", "--host", root, "/x", "{00000000-0000-0000-0000-000000000000}"}, 1, "exit code 1605"},
		{[]string{"vstat", "--host", filepath.Join(t.TempDir(), "none")}, 1, "no host.json"},
		{[]string{"flint", "--host", root, "-d", "mt1_pci_cr0", "query"}, 1, "Cannot open mt1_pci_cr0"},
	} {
		_, errOut, code := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("ibemu %s: exit %d, want %d with %q:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.want, errOut)
		}
	}
	// A half-written state file: a clear error, the root untouched.
	state := filepath.Join(root, host.StateFile)
	b, _ := os.ReadFile(state)
	os.WriteFile(state, b[:len(b)/3], 0o644)
	before, _ := host.TakeSnapshot(root)
	_, errOut, code := runCmd(t, "msiexec", "--host", root, "/i", "WinOF_2-2-1_wlh_x64.msi", "/qn")
	if code != 1 || !strings.Contains(errOut, "truncated") || !strings.Contains(errOut, state) {
		t.Errorf("corrupt state: exit %d: %s", code, errOut)
	}
	if after, _ := host.TakeSnapshot(root); len(before.Diff(after)) > 0 {
		t.Errorf("root changed: %v", before.Diff(after))
	}
}

// An installer process that dies in the middle of its transaction leaves
// a journal; the next command to open the host rolls it back.
func TestMsiexecKilledProcessRollsBack(t *testing.T) {
	root := newHostRoot(t)
	mustCmd(t, "host", "trust", "--host", root)
	before, err := host.TakeSnapshot(root)
	if err != nil {
		t.Fatal(err)
	}
	out, code := runChild(t, []string{"IBEMU_INSTALL_FAULT=exit:6"}, "msiexec", "--host", root, "/i", "WinOF_2-2-1_wlh_x64.msi", "/qn")
	if code != 137 || !strings.Contains(out, "exiting at step 6") {
		t.Fatalf("child: exit %d\n%s", code, out)
	}
	mid, _ := host.TakeSnapshot(root)
	if len(before.Diff(mid)) == 0 {
		t.Fatal("the killed installer changed nothing: the test proves nothing")
	}
	mustCmd(t, "host", "show", "--host", root)
	after, _ := host.TakeSnapshot(root)
	if d := before.Diff(after); len(d) > 0 {
		t.Errorf("after recovery the host differs: %v", d)
	}
	// With a failure (not a death) the installer rolls back itself.
	out, code = runChild(t, []string{"IBEMU_INSTALL_FAULT=fail:9"}, "msiexec", "--host", root, "/i", "WinOF_2-2-1_wlh_x64.msi", "/qn")
	if code != 1 || !strings.Contains(out, "injected failure at step 9") {
		t.Fatalf("child: exit %d\n%s", code, out)
	}
	if after, _ := host.TakeSnapshot(root); len(before.Diff(after)) > 0 {
		t.Errorf("after a failed step the host differs: %v", before.Diff(after))
	}
}

func TestFlintCommands(t *testing.T) {
	root := newHostRoot(t)
	mst := mustCmd(t, "flint", "--host", root, "--mst")
	if mst != "mt26428_pci_cr0\nmt25218_pci_cr0\n" {
		t.Fatalf("mst:\n%s", mst)
	}
	q := mustCmd(t, "flint", "--host", root, "-d", "mt26428_pci_cr0", "query")
	if !strings.Contains(q, "FW Version:      2.7.0") || !strings.Contains(q, "PSID:            MT_0D80120009") {
		t.Errorf("query:\n%s", q)
	}
	img := filepath.Join(t.TempDir(), "fw.img")
	mustCmd(t, "flint", "image", "--device-id", "26428", "--psid", "MT_0D80120009", "--fw", "2.7.9000", "-o", img)
	out := mustCmd(t, "flint", "--host", root, "-d", "mt26428_pci_cr0", "-i", img, "burn")
	if !strings.Contains(out, "New FW version:               2.7.9000") {
		t.Errorf("burn:\n%s", out)
	}
	if q := mustCmd(t, "flint", "--host", root, "-d", "mt26428_pci_cr0", "query"); !strings.Contains(q, "FW Version:      2.7.9000") {
		t.Errorf("after burn:\n%s", q)
	}
	bad := filepath.Join(t.TempDir(), "bad.img")
	mustCmd(t, "flint", "image", "--device-id", "26428", "--psid", "MT_OTHER", "--fw", "2.8.0", "-o", bad)
	if _, errOut, code := runCmd(t, "flint", "--host", root, "-d", "mt26428_pci_cr0", "-i", bad, "burn"); code != 1 || !strings.Contains(errOut, "PSID mismatch") {
		t.Errorf("PSID mismatch: %d %s", code, errOut)
	}
}

// A host created from a topology's HCAs runs the OpenSM service's subnet
// manager on the fabric each time a command attaches the fabric.
func TestHostOnTopology(t *testing.T) {
	topo, err := topology.FatTree(2, 4)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ft.net")
	var buf bytes.Buffer
	if err := topology.Write(&buf, topo); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file, buf.Bytes(), 0o644)
	var first string
	for _, n := range topo.Nodes {
		if n.Type == wire.NodeTypeCA {
			first = n.ID
			break
		}
	}
	root := filepath.Join(t.TempDir(), "node1")
	mustCmd(t, "host", "create", "--host", root, "--os", "hpc2008", "--arch", "x64", "--topology", file, "--node", first)
	mustCmd(t, "host", "trust", "--host", root)
	mustCmd(t, "msiexec", "--host", root, "--topology", file, "/i", "WinOF_2-2-1_wlh_x64.msi", "/qn", "OSMS=1")
	out := mustCmd(t, "vstat", "--host", root, "--topology", file)
	if !strings.Contains(out, "port_state=PORT_ACTIVE (4)") || !strings.Contains(out, "sm_lid=0x0001") {
		t.Errorf("vstat on the fabric:\n%s", out)
	}
	if out := mustCmd(t, "vstat", "--host", root); !strings.Contains(out, "port_state=PORT_DOWN (1)") {
		t.Errorf("vstat without the fabric:\n%s", out)
	}
}
