package failure_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ibemu/ibemu/hca"
	. "github.com/ibemu/ibemu/scenarios"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/host/hosttest"
	"github.com/ibemu/ibemu/stack/install"
)

var errInjected = errors.New("injected failure")

var _ = Describe("an installer that fails or dies at a step", Label("kind:failure", "env:emu", "fault:installstep"), func() {
	for _, f := range faulted {
		Describe(f.Name, func() {
			var h *host.Host
			BeforeEach(func() {
				CheckGoroutines()
				h = NewHost(host.Config{OS: f.OS, Arch: f.Arch, Adapters: []host.Adapter{
					Detached(hca.ProfileConnectX2QDR2p, 0x0002c903000f0000), Detached(hca.ProfileInfiniHostIIIEx, 0x0002c90200006000)}})
				Expect(install.TrustPublisher(h)).To(Succeed())
				if f.Setup != "" {
					MustMsiexec(h, f.Setup)
				}
			})
			for i, name := range plans[f.Line] {
				n := i + 1
				It(fmt.Sprintf("rolls back everything when step %d (%s) fails", n, name), func() {
					before := Snapshot(h)
					_, err := Msiexec(h, f.Line, install.Options{Fault: func(step int, _ string) error {
						if step == n {
							return errInjected
						}
						return nil
					}})
					var se *install.StepError
					Expect(errors.As(err, &se)).To(BeTrue(), "%v", err)
					Expect(se.N).To(Equal(n))
					Expect(err).To(MatchError(errInjected))
					Expect(install.ExitCode(err)).To(Equal(1603))
					Expect(h).To(EqualSnapshot(before))
				})
				It(fmt.Sprintf("is rolled back by the next open when the process dies at step %d (%s)", n, name), func() {
					before := Snapshot(h)
					_, err := Msiexec(h, f.Line, install.Options{Fault: func(step int, _ string) error {
						if step == n {
							return install.ErrKilled
						}
						return nil
					}})
					Expect(err).To(MatchError(install.ErrKilled))
					Expect(h.WriteFile(`C:\x`, nil)).To(MatchError(host.ErrClosed), "a dead installer's host is gone")
					again, err := host.Open(h.Root())
					Expect(err).NotTo(HaveOccurred())
					DeferCleanup(again.Close)
					Expect(again).To(EqualSnapshot(before))
					// And the host works: the command succeeds now.
					MustMsiexec(again, f.Line)
				})
			}
		})
	}
})

var _ = Describe("a corrupt or half-written host root", Label("kind:failure", "env:emu"), func() {
	var (
		h    *host.Host
		good []byte
	)
	BeforeEach(func() {
		h = NewHost(host.Config{OS: host.Server2008, Arch: host.X64})
		var err error
		good, err = os.ReadFile(filepath.Join(h.Root(), host.StateFile))
		Expect(err).NotTo(HaveOccurred())
	})
	DescribeTable("gives a clear error naming the problem and leaves the root as it was",
		func(mangle func([]byte) []byte, want string) {
			Expect(os.WriteFile(filepath.Join(h.Root(), host.StateFile), mangle(good), 0o644)).To(Succeed())
			before := Snapshot(h)
			_, err := host.Open(h.Root())
			Expect(err).To(MatchError(host.ErrCorruptState))
			Expect(err).To(MatchError(ContainSubstring(want)))
			Expect(err).To(MatchError(ContainSubstring(filepath.Join(h.Root(), host.StateFile))))
			Expect(h).To(EqualSnapshot(before))
		},
		Entry("cut off mid-write", func(b []byte) []byte { return b[:len(b)*2/3] }, "truncated"),
		Entry("empty", func([]byte) []byte { return nil }, "empty"),
		Entry("garbage", func(b []byte) []byte { return append([]byte("\x00\x01"), b...) }, "corrupt at byte"),
		Entry("an unknown OS", func(b []byte) []byte { return setField(b, "os", "os2") }, "unknown os"),
		Entry("a newer format", func(b []byte) []byte { return setField(b, "format", "ibemu-host/2") }, "ibemu-host/2"),
		Entry("a device twice", func(b []byte) []byte {
			var m map[string]any
			json.Unmarshal(b, &m)
			d := map[string]any{"instance_id": `ROOT\X\0`, "description": "x", "hardware_ids": []string{"x"}, "status": "started"}
			m["devices"] = []any{d, d}
			out, _ := json.Marshal(m)
			return out
		}, "twice"),
	)
})

func setField(b []byte, k string, v any) []byte {
	var m map[string]any
	Expect(json.Unmarshal(b, &m)).To(Succeed())
	m[k] = v
	out, err := json.Marshal(m)
	Expect(err).NotTo(HaveOccurred())
	return out
}

var _ = Describe("malformed msiexec command lines", Label("kind:failure", "env:emu"), func() {
	DescribeTable("are refused with a clear error before anything changes",
		func(line string, want error, text string, code int) {
			h := NewHost(host.Config{OS: host.Server2008, Arch: host.X64})
			before := Snapshot(h)
			_, err := Msiexec(h, line, install.Options{})
			Expect(err).To(MatchError(want))
			Expect(err).To(MatchError(ContainSubstring(text)))
			Expect(install.ExitCode(err)).To(Equal(code))
			Expect(h).To(EqualSnapshot(before))
		},
		Entry(nil, `msiexec /qn`, install.ErrBadCommandLine, "no /i, /x or /a", 1639),
		Entry(nil, `msiexec /i WinOF_2-2-1_wlh_x64.msi /x WinOF_2-2-1_wlh_x64.msi`, install.ErrBadCommandLine, "only one of", 1639),
		Entry(nil, `msiexec /i WinOF_2-2-1_wlh_x64.msi /frobnicate`, install.ErrBadCommandLine, "unknown option", 1639),
		Entry(nil, `msiexec /i WinOF_2-2-1_wlh_x64.msi "unterminated`, install.ErrBadCommandLine, "unterminated quote", 1639),
		Entry(nil, `msiexec /i WinOF_2-2-1_wlh_x64.msi /l*v`, install.ErrBadCommandLine, "needs a log file", 1639),
		Entry(nil, `msiexec /i WinOF_2-2-1_wlh_x64.msi /log C:\bad<name>.log`, install.ErrBadCommandLine, "log file", 1639),
		Entry(nil, `msiexec /i WinOF_2-2-1_wlh_x64.msi ADDLOCAL=IBcore,fNoSuch`, install.ErrUnknownFeature, `"fNoSuch"`, 1639),
		Entry(nil, `msiexec /i WinOF_2-2-1_wlh_x64.msi Addlocal=ALL`, install.ErrUnknownProperty, "did you mean ADDLOCAL", 1639),
		Entry(nil, `msiexec /i WinOF_2-2-1_wlh_x64.msi SRP=maybe`, install.ErrUnknownProperty, "want 0 or 1", 1639),
		Entry(nil, `msiexec /i NotWinOF.msi`, install.ErrPackage, "not a package", 1619),
		Entry(nil, `msiexec /i WinOF_2-2-1_wxp_x86.msi`, install.ErrWrongPlatform, "Windows XP x86 only", 1603),
		Entry(nil, `msiexec /a WinOF_2-2-1_wlh_x64.msi TARGETDIR=C:\Windows`, install.ErrTargetExists, "must not exist", 1603),
		Entry(nil, `msiexec /x {01234567-89AB-CDEF-0123-456789ABCDEF}`, install.ErrNotInstalled, "", 1605),
	)
})

var _ = Describe("unsigned (non-WHQL) drivers", Ordered, Label("kind:failure", "env:emu"), func() {
	var h *host.Host
	BeforeAll(func() {
		h = NewHost(host.Config{OS: host.HPCServer2008, Arch: host.X64, Adapters: []host.Adapter{Detached(hca.ProfileConnectX2QDR2p, 0x0002c90300100000)}})
	})

	It("make a first-time unattended remote install fail, rolled back", func() {
		before := Snapshot(h)
		_, err := Msiexec(h, `msiexec /I \\HN\WinOF\WinOF_2-2-1_wlh_x64.msi /quiet /qn /Lv msi.log`, install.Options{})
		Expect(err).To(MatchError(install.ErrBadCommandLine), "a relative log path is refused up front")
		_, err = Msiexec(h, `msiexec /I \\HN\WinOF\WinOF_2-2-1_wlh_x64.msi /quiet /qn`, install.Options{})
		Expect(err).To(MatchError(install.ErrUntrusted))
		Expect(h).To(EqualSnapshot(before))
	})

	It("install unattended once cert-add put the publisher in the Trusted Publishers store", func() {
		Expect(install.TrustPublisher(h)).To(Succeed())
		MustMsiexec(h, `msiexec /I \\HN\WinOF\WinOF_2-2-1_wlh_x64.msi /quiet /qn`)
	})

	It("fail again after the node is re-imaged", func() {
		Expect(h.Reimage()).To(Succeed())
		Expect(h.Trusts(install.Publisher)).To(BeFalse())
		_, err := Msiexec(h, `msiexec /I \\HN\WinOF\WinOF_2-2-1_wlh_x64.msi /quiet /qn`, install.Options{})
		Expect(err).To(MatchError(install.ErrUntrusted))
	})
})

var _ = Describe("an install in progress in another process", Label("kind:failure", "env:emu"), func() {
	It("makes a second install wait with 1618", func() {
		h := NewHost(host.Config{OS: host.Server2008, Arch: host.X64})
		Expect(install.TrustPublisher(h)).To(Succeed())
		// The journal of an install whose process (our parent) still runs.
		dir := filepath.Join(h.Root(), "C", "Config.Msi")
		Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
		rec, _ := json.Marshal(map[string]any{"op": "begin", "name": "WinOF install", "pid": hosttest.LiveProcess(GinkgoT()), "token": "00000000000000bb"})
		Expect(os.WriteFile(filepath.Join(dir, "ibemu-00000000000000bb.rbs"), append(rec, '\n'), 0o644)).To(Succeed())
		_, err := Msiexec(h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{})
		Expect(err).To(MatchError(install.ErrBusy))
		Expect(install.ExitCode(err)).To(Equal(1618))
		Expect(host.RemoveTree(dir)).To(Succeed())
	})
})
