package install

import (
	"fmt"
	"strings"
)

// Action is what an msiexec command line asks for.
type Action int

// Actions.
const (
	ActionInstall   Action = iota + 1 // /i
	ActionUninstall                   // /x
	ActionAdmin                       // /a
)

// String names the action.
func (a Action) String() string {
	switch a {
	case ActionInstall:
		return "install"
	case ActionUninstall:
		return "uninstall"
	case ActionAdmin:
		return "administrative install"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// UILevel is the user interface level (/q options).
type UILevel int

// UI levels.
const (
	UIFull    UILevel = iota // the default: dialogs and prompts
	UIReduced                // /qr
	UIBasic                  // /qb, /passive: a progress bar, no prompts
	UINone                   // /qn, /quiet: nothing
)

// Restart is what happens after a change that needs a reboot.
type Restart int

// Restart options.
const (
	RestartDefault Restart = iota // reboot required is reported (3010)
	RestartForce                  // /forcerestart: always reboot afterwards
	RestartNever                  // /norestart
	RestartPrompt                 // /promptrestart
)

// Property is a PROPERTY=value command-line setting.
type Property struct{ Name, Value string }

// Request is a parsed msiexec command line.
type Request struct {
	Action Action
	// Target is the package path (or, for /x, a ProductCode).
	Target string
	UI     UILevel
	// Properties are the PROPERTY=value settings, in order.
	Properties []Property
	// LogFile is the /l or /log file (a host path); LogModes the /l
	// letters ("v", "*v" ...).
	LogFile, LogModes string
	Restart           Restart
}

// Unattended reports whether nobody will answer prompts: any /q level
// below full, /quiet or /passive.
func (r *Request) Unattended() bool { return r.UI != UIFull }

// Prop returns the value of property name (case-sensitive).
func (r *Request) Prop(name string) (string, bool) {
	for _, p := range r.Properties {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// String renders the request as an msiexec command line.
func (r *Request) String() string {
	var parts []string
	switch r.Action {
	case ActionInstall:
		parts = append(parts, "/i")
	case ActionUninstall:
		parts = append(parts, "/x")
	case ActionAdmin:
		parts = append(parts, "/a")
	}
	parts = append(parts, quoteArg(r.Target))
	switch r.UI {
	case UIReduced:
		parts = append(parts, "/qr")
	case UIBasic:
		parts = append(parts, "/qb")
	case UINone:
		parts = append(parts, "/qn")
	}
	if r.LogFile != "" {
		parts = append(parts, "/l"+r.LogModes, quoteArg(r.LogFile))
	}
	switch r.Restart {
	case RestartForce:
		parts = append(parts, "/forcerestart")
	case RestartNever:
		parts = append(parts, "/norestart")
	case RestartPrompt:
		parts = append(parts, "/promptrestart")
	}
	for _, p := range r.Properties {
		parts = append(parts, p.Name+"="+quoteArg(p.Value))
	}
	return "msiexec " + strings.Join(parts, " ")
}

func quoteArg(s string) string {
	if s == "" || strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}

// SplitCommandLine splits a command line as the Windows C runtime does:
// blanks separate arguments, double quotes group (and are removed), `\"`
// is a literal quote.
func SplitCommandLine(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '"':
			cur.WriteByte('"')
			have = true
			i++
		case c == '"':
			inQuote, have = !inQuote, true
		case (c == ' ' || c == '\t' || c == '\r' || c == '\n') && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("install: command line %q: unterminated quote: %w", s, ErrBadCommandLine)
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}

// ParseCommandLine parses msiexec arguments: /i, /x (/uninstall), /a with
// a package or product code; /q[n|b|r|f], /quiet, /passive; /l[modes]
// FILE, /log FILE; /forcerestart, /norestart, /promptrestart; and
// PROPERTY=value settings. Options are case-insensitive and may start
// with - instead of /. A leading "start/wait" (or "start /wait") and
// "msiexec[.exe]" are skipped, so command lines from the release notes
// replay as written.
func ParseCommandLine(args []string) (Request, error) {
	var r Request
	bad := func(format string, a ...any) (Request, error) {
		return Request{}, fmt.Errorf("install: msiexec: "+format+": %w", append(a, ErrBadCommandLine)...)
	}
	i := 0
	for i < len(args) {
		a := strings.ToLower(args[i])
		if a == "start/wait" || a == "start" || a == "/wait" || a == "msiexec" || a == "msiexec.exe" {
			i++
			continue
		}
		break
	}
	uiSet := false
	setUI := func(u UILevel) error {
		if uiSet && r.UI != u {
			return fmt.Errorf("install: msiexec: conflicting user interface options: %w", ErrBadCommandLine)
		}
		r.UI, uiSet = u, true
		return nil
	}
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "" {
			continue
		}
		if arg[0] != '/' && arg[0] != '-' {
			name, value, ok := strings.Cut(arg, "=")
			if !ok {
				return bad("unexpected argument %q (properties are PROPERTY=value)", arg)
			}
			if name == "" || strings.ContainsAny(name, " \t/") {
				return bad("bad property name in %q", arg)
			}
			for _, p := range r.Properties {
				if p.Name == name {
					return bad("property %s given twice", name)
				}
			}
			r.Properties = append(r.Properties, Property{Name: name, Value: value})
			continue
		}
		opt := strings.ToLower(arg[1:])
		next := func(what string) (string, error) {
			if i+1 >= len(args) || args[i+1] == "" {
				return "", fmt.Errorf("install: msiexec: %s needs %s: %w", arg, what, ErrBadCommandLine)
			}
			i++
			return args[i], nil
		}
		setAction := func(a Action) error {
			if r.Action != 0 {
				return fmt.Errorf("install: msiexec: %s: only one of /i, /x and /a may be given: %w", arg, ErrBadCommandLine)
			}
			t, err := next("a package or product code")
			if err != nil {
				return err
			}
			r.Action, r.Target = a, t
			return nil
		}
		var err error
		switch {
		case opt == "i" || opt == "package":
			err = setAction(ActionInstall)
		case opt == "x" || opt == "uninstall":
			err = setAction(ActionUninstall)
		case opt == "a":
			err = setAction(ActionAdmin)
		case opt == "quiet":
			err = setUI(UINone)
		case opt == "passive":
			err = setUI(UIBasic)
		case strings.HasPrefix(opt, "q") && len(opt) <= 4:
			lvl := map[string]UILevel{"q": UINone, "qn": UINone, "qb": UIBasic, "qr": UIReduced, "qf": UIFull}
			u, ok := lvl[strings.TrimRight(opt, "+-!")]
			if !ok {
				return bad("unknown user interface option %s", arg)
			}
			err = setUI(u)
		case opt == "log":
			r.LogModes = "*"
			r.LogFile, err = next("a log file")
		case strings.HasPrefix(opt, "l") && len(opt) <= 16 && strings.Trim(opt[1:], "iwearucmopvx+!*") == "":
			r.LogModes = opt[1:]
			r.LogFile, err = next("a log file")
		case opt == "forcerestart":
			r.Restart = RestartForce
		case opt == "norestart":
			r.Restart = RestartNever
		case opt == "promptrestart":
			r.Restart = RestartPrompt
		case opt == "?" || opt == "help" || opt == "h":
			return bad("help requested")
		default:
			return bad("unknown option %s", arg)
		}
		if err != nil {
			return Request{}, err
		}
	}
	if r.Action == 0 {
		return bad("no /i, /x or /a")
	}
	return r, nil
}
