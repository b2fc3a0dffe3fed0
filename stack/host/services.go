package host

import (
	"fmt"
	"path"
	"strings"
	"sync"
)

// ServiceRunner emulates the program behind a Win32 service: the Service
// Control Manager calls Start when the service starts and Stop when it
// stops. Runners run synchronously on the caller's goroutine; they may
// read and write the host's files (a log, say) and must not keep
// goroutines running after Stop.
type ServiceRunner interface {
	Start(h *Host, svc Service) error
	Stop(h *Host, svc Service) error
}

// ServiceAttacher is implemented by runners whose program keeps running
// inside the emulating process (a subnet manager, say). A service that is
// Running in the saved state has no program in a new process: Open (given
// live adapters) calls Attach to bring it back. Close, and the death of
// the process (Tx.Abandon), call Detach, which ends it without the side
// effects of Stop: the saved state still says Running.
type ServiceAttacher interface {
	Attach(h *Host, svc Service) error
	Detach(h *Host, svc Service)
}

var runners = struct {
	sync.Mutex
	m map[string]ServiceRunner
}{m: map[string]ServiceRunner{}}

// RegisterServiceRunner makes r the program of services whose image file
// is named image ("opensm.exe"; any case). Registering an image twice is
// a programming error and panics.
func RegisterServiceRunner(image string, r ServiceRunner) {
	runners.Lock()
	defer runners.Unlock()
	k := strings.ToLower(image)
	if _, dup := runners.m[k]; dup {
		panic("host: service runner for " + image + " registered twice")
	}
	runners.m[k] = r
}

func runnerFor(imagePath string) (ServiceRunner, bool) {
	runners.Lock()
	defer runners.Unlock()
	base := strings.ToLower(path.Base(strings.ReplaceAll(imagePath, `\`, "/")))
	r, ok := runners.m[base]
	return r, ok
}

// Services returns the services and drivers.
func (h *Host) Services() []Service { return h.State().Services }

// Service returns the service called name (any case).
func (h *Host) Service(name string) (Service, error) {
	if s, ok := h.service(name); ok {
		return *s, nil
	}
	return Service{}, fmt.Errorf("host: service %s: %w", name, ErrNotFound)
}

func (h *Host) service(name string) (*Service, bool) {
	for i := range h.st.Services {
		if strings.EqualFold(h.st.Services[i].Name, name) {
			return &h.st.Services[i], true
		}
	}
	return nil, false
}

// AddService installs a service (sc create). It starts Stopped.
func (h *Host) AddService(s Service) error {
	if err := h.usable(); err != nil {
		return err
	}
	if s.Name == "" || s.ImagePath == "" {
		return fmt.Errorf("host: add service: a name and an image path are needed: %w", ErrBadConfig)
	}
	if _, ok := h.service(s.Name); ok {
		return fmt.Errorf("host: add service %s: %w", s.Name, ErrExists)
	}
	if s.Kind == "" {
		s.Kind = KindProcess
	}
	if s.StartMode == "" {
		s.StartMode = StartDemand
	}
	s.State = ServiceStopped
	h.st.Services = append(h.st.Services, s)
	return h.changed()
}

// RemoveService stops and deletes a service (sc delete).
func (h *Host) RemoveService(name string) error {
	s, ok := h.service(name)
	if !ok {
		return fmt.Errorf("host: remove service %s: %w", name, ErrNotFound)
	}
	if s.State == ServiceRunning {
		if err := h.StopService(name); err != nil {
			return err
		}
	}
	h.deleteService(name)
	return h.changed()
}

func (h *Host) deleteService(name string) {
	for i := range h.st.Services {
		if strings.EqualFold(h.st.Services[i].Name, name) {
			h.st.Services = append(h.st.Services[:i], h.st.Services[i+1:]...)
			return
		}
	}
}

// SetStartMode changes a service's start type (sc config start=).
func (h *Host) SetStartMode(name string, mode StartMode) error {
	s, ok := h.service(name)
	if !ok {
		return fmt.Errorf("host: configure service %s: %w", name, ErrNotFound)
	}
	switch mode {
	case StartBoot, StartSystem, StartAuto, StartDemand, StartDisabled:
	default:
		return fmt.Errorf("host: configure service %s: start mode %q: %w", name, mode, ErrBadConfig)
	}
	s.StartMode = mode
	return h.changed()
}

// StartService starts a Win32 service (net start), running its program's
// ServiceRunner. A disabled service does not start (ErrServiceDisabled);
// neither does one whose program ibemu cannot run.
func (h *Host) StartService(name string) error {
	if err := h.usable(); err != nil {
		return err
	}
	s, ok := h.service(name)
	if !ok {
		return fmt.Errorf("host: start service %s: %w", name, ErrNotFound)
	}
	if s.Kind != KindProcess {
		return fmt.Errorf("host: start service %s: a kernel driver starts with its device: %w", name, ErrBadConfig)
	}
	if s.State == ServiceRunning {
		return nil
	}
	if s.StartMode == StartDisabled {
		return fmt.Errorf("host: start service %s: %w", name, ErrServiceDisabled)
	}
	if !h.Exists(s.ImagePath) {
		return fmt.Errorf("host: start service %s: %s: %w", name, s.ImagePath, ErrNotFound)
	}
	r, ok := runnerFor(s.ImagePath)
	if !ok {
		return fmt.Errorf("host: start service %s: no emulation of %s: %w", name, s.ImagePath, ErrNotFound)
	}
	if err := r.Start(h, *s); err != nil {
		return fmt.Errorf("host: start service %s: %w", name, err)
	}
	s, _ = h.service(name)
	s.State = ServiceRunning
	h.logEvent(LevelInformation, "Service Control Manager", 7036, fmt.Sprintf("The %s service entered the running state.", s.DisplayName))
	return h.changed()
}

// StopService stops a running Win32 service (net stop).
func (h *Host) StopService(name string) error {
	if err := h.usable(); err != nil {
		return err
	}
	s, ok := h.service(name)
	if !ok {
		return fmt.Errorf("host: stop service %s: %w", name, ErrNotFound)
	}
	if s.State != ServiceRunning {
		return nil
	}
	err := h.stopRunner(*s)
	s, _ = h.service(name)
	s.State = ServiceStopped
	h.logEvent(LevelInformation, "Service Control Manager", 7036, fmt.Sprintf("The %s service entered the stopped state.", s.DisplayName))
	if cerr := h.changed(); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("host: stop service %s: %w", name, err)
	}
	return nil
}

func (h *Host) stopRunner(s Service) error {
	if s.Kind != KindProcess {
		return nil
	}
	if r, ok := runnerFor(s.ImagePath); ok {
		return r.Stop(h, s)
	}
	return nil
}

// KillService ends a running Win32 service's program abruptly, as when
// the process is killed: the Service Control Manager notes that it
// terminated unexpectedly (event 7034) and the service is Stopped.
func (h *Host) KillService(name string) error {
	if err := h.usable(); err != nil {
		return err
	}
	s, ok := h.service(name)
	if !ok {
		return fmt.Errorf("host: kill service %s: %w", name, ErrNotFound)
	}
	if s.State != ServiceRunning || s.Kind != KindProcess {
		return fmt.Errorf("host: kill service %s: not a running service: %w", name, ErrBadConfig)
	}
	if r, ok := runnerFor(s.ImagePath); ok {
		if a, ok := r.(ServiceAttacher); ok {
			a.Detach(h, *s)
		}
	}
	s.State = ServiceStopped
	h.logEvent(LevelError, "Service Control Manager", 7034, fmt.Sprintf("The %s service terminated unexpectedly.", s.DisplayName))
	return h.changed()
}

// attachServices brings back the programs of running services in this
// process.
func (h *Host) attachServices() {
	for _, s := range h.st.Services {
		if s.Kind != KindProcess || s.State != ServiceRunning {
			continue
		}
		if r, ok := runnerFor(s.ImagePath); ok {
			if a, ok := r.(ServiceAttacher); ok {
				if err := a.Attach(h, s); err != nil {
					h.logEvent(LevelWarning, "Service Control Manager", 7031, fmt.Sprintf("The %s service could not resume: %v", s.DisplayName, err))
				}
			}
		}
	}
}

// detachServices ends the in-process programs of running services.
func (h *Host) detachServices() {
	for _, s := range h.st.Services {
		if s.Kind != KindProcess || s.State != ServiceRunning {
			continue
		}
		if r, ok := runnerFor(s.ImagePath); ok {
			if a, ok := r.(ServiceAttacher); ok {
				a.Detach(h, s)
			}
		}
	}
}

func (h *Host) setServiceState(name string, st ServiceState) {
	if s, ok := h.service(name); ok {
		s.State = st
	}
}
