package install_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ibemu/ibemu/stack/install"
)

func TestParseReleaseNoteCommandLines(t *testing.T) {
	for _, tc := range []struct {
		line string
		want install.Request
	}{
		{`start/wait msiexec.exe /i WinOF_2-2-1_wlh_x64.msi /qn /quiet /log %TEMP%\WinOF-install.log`,
			install.Request{Action: install.ActionInstall, Target: "WinOF_2-2-1_wlh_x64.msi", UI: install.UINone, LogFile: `%TEMP%\WinOF-install.log`, LogModes: "*"}},
		{`msiexec /I WinOF_2-2-1_wlh_x64.msi /Lv \temp\msi.log`,
			install.Request{Action: install.ActionInstall, Target: "WinOF_2-2-1_wlh_x64.msi", LogFile: `\temp\msi.log`, LogModes: "v"}},
		{`start/wait msiexec.exe /x {3A6A276E-A636-48E8-8624-9A0DE3F2A15E} /quiet /forcerestart`,
			install.Request{Action: install.ActionUninstall, Target: "{3A6A276E-A636-48E8-8624-9A0DE3F2A15E}", UI: install.UINone, Restart: install.RestartForce}},
		{`msiexec /A WinOF_2-2-1_wlh_x64.msi TARGETDIR=%TEMP%\WinOF`,
			install.Request{Action: install.ActionAdmin, Target: "WinOF_2-2-1_wlh_x64.msi", Properties: []install.Property{{Name: "TARGETDIR", Value: `%TEMP%\WinOF`}}}},
		{`start/wait msiexec /I WinOF_2-2-1_wlh_x64.msi /qn /quiet NODRV=1`,
			install.Request{Action: install.ActionInstall, Target: "WinOF_2-2-1_wlh_x64.msi", UI: install.UINone, Properties: []install.Property{{Name: "NODRV", Value: "1"}}}},
		{`msiexec.exe /i "C:\My Files\WinOF_2-2-1_wlh_x64.msi" /passive OSMS=1 ADDLOCAL="IBcore,fIPoIB"`,
			install.Request{Action: install.ActionInstall, Target: `C:\My Files\WinOF_2-2-1_wlh_x64.msi`, UI: install.UIBasic,
				Properties: []install.Property{{Name: "OSMS", Value: "1"}, {Name: "ADDLOCAL", Value: "IBcore,fIPoIB"}}}},
		{`msiexec -uninstall WinOF_2-2-1_wlh_x64.msi /qb-! /norestart`,
			install.Request{Action: install.ActionUninstall, Target: "WinOF_2-2-1_wlh_x64.msi", UI: install.UIBasic, Restart: install.RestartNever}},
	} {
		args, err := install.SplitCommandLine(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		got, err := install.ParseCommandLine(args)
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.line, d)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	for _, line := range []string{
		``,
		`msiexec /qn`,
		`msiexec /i`,
		`msiexec /i a.msi /x b.msi`,
		`msiexec /i a.msi /bogus`,
		`msiexec /i a.msi stray`,
		`msiexec /i a.msi NODRV=1 NODRV=0`,
		`msiexec /i a.msi /log`,
		`msiexec /i a.msi /qn /qf`,
		`msiexec /i a.msi =1`,
		`msiexec /i "a.msi`,
	} {
		args, err := install.SplitCommandLine(line)
		if err == nil {
			_, err = install.ParseCommandLine(args)
		}
		if !errors.Is(err, install.ErrBadCommandLine) {
			t.Errorf("%q: err = %v, want ErrBadCommandLine", line, err)
		}
		if install.ExitCode(err) != 1639 {
			t.Errorf("%q: exit code %d, want 1639", line, install.ExitCode(err))
		}
	}
}

func FuzzParseCommandLine(f *testing.F) {
	for _, s := range []string{`/i a.msi /qn NODRV=1`, `start/wait msiexec /x {X} /quiet /forcerestart`, `"a b" c\"d`, `/l*v x`, `/a p TARGETDIR=`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args, err := install.SplitCommandLine(line)
		if err != nil {
			return
		}
		req, err := install.ParseCommandLine(args)
		if err != nil {
			if !errors.Is(err, install.ErrBadCommandLine) {
				t.Fatalf("error without ErrBadCommandLine: %v", err)
			}
			return
		}
		if req.Action == 0 || req.Target == "" {
			t.Fatalf("accepted %q without an action: %+v", line, req)
		}
		_ = req.String()
	})
}

func FuzzParseFirmwareImage(f *testing.F) {
	f.Add([]byte("IBEMU-FW-IMAGE 1\nDEVICE_ID=26428\nPSID=MT_0D80120009\nFW_VERSION=2.7.9000\nBUILD_ID=31\n"))
	f.Add([]byte("IBEMU-FW-IMAGE 1\nDEVICE_ID=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, img, err := install.ParseFirmwareImage(b)
		if err != nil {
			return
		}
		id2, img2, err := install.ParseFirmwareImage(install.FirmwareImageFile(id, img))
		if err != nil || id2 != id || img2 != img {
			t.Fatalf("round trip: %v %+v -> %v %+v, %v", id, img, id2, img2, err)
		}
	})
}
