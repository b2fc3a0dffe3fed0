package fabric_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	. "github.com/ibemu/ibemu/scenarios"
	"github.com/ibemu/ibemu/stack/discover"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/install"
)

// discoverNodes walks f from its first HCA and returns the number of
// nodes found.
func discoverNodes(ctx context.Context, f *ibtest.Fabric) (int, error) {
	res, err := f.DiscoverFrom(ctx, f.FirstHCA().Topo.ID, 1)
	if err != nil {
		return 0, err
	}
	return len(res.Topology.Nodes), nil
}

// cas returns the fabric's CA ids.
func cas(f *ibtest.Fabric) []string {
	var out []string
	for _, n := range f.Topology.Nodes {
		if n.Type == wire.NodeTypeCA {
			out = append(out, n.ID)
		}
	}
	return out
}

// portState reads a port's logical state on the event loop.
func portState(f *ibtest.Fabric, node string, num int) wire.PortState {
	p, err := f.Port(node, num)
	Expect(err).NotTo(HaveOccurred())
	var s wire.PortState
	Expect(f.Emu.Do(func() { s = p.State() })).To(Succeed())
	return s
}

var _ = Describe("link flaps", Ordered, Label("kind:fabric", "env:emu", "fault:linkflap"), func() {
	var (
		f      *ibtest.Fabric
		victim string
	)
	BeforeAll(func() {
		CheckGoroutines()
		f = StartFabric(ibtest.FatTree(2, 4))
		victim = cas(f)[len(cas(f))-1]
	})

	It("discovery sees the whole fabric", func(ctx SpecContext) {
		res, err := f.DiscoverFrom(ctx, f.FirstHCA().Topo.ID, 1)
		Expect(err).NotTo(HaveOccurred())
		Expect(topology.Compare(f.Topology, res.Topology)).To(Succeed())
	}, SpecTimeout(time.Minute))

	It("loses the node behind a pulled cable", func(ctx SpecContext) {
		Expect(f.LinkDown(victim, 1)).To(Succeed())
		Expect(discoverNodes(ctx, f)).To(Equal(len(f.Topology.Nodes) - 1))
	}, SpecTimeout(time.Minute))

	It("finds it again once the cable is back, flap after flap", func(ctx SpecContext) {
		for i := 0; i < 3; i++ {
			Expect(f.LinkUp(victim, 1)).To(Succeed())
			Eventually(ctx, func(ctx context.Context) (int, error) { return discoverNodes(ctx, f) }).Should(Equal(len(f.Topology.Nodes)))
			Expect(f.LinkDown(victim, 1)).To(Succeed())
			Expect(discoverNodes(ctx, f)).To(Equal(len(f.Topology.Nodes) - 1))
		}
		Expect(f.LinkUp(victim, 1)).To(Succeed())
		Eventually(ctx, func(ctx context.Context) (int, error) { return discoverNodes(ctx, f) }).Should(Equal(len(f.Topology.Nodes)))
	}, SpecTimeout(2*time.Minute))
})

var _ = Describe("MAD loss", Label("kind:fabric", "env:emu", "fault:madloss"), func() {
	It("is ridden out by discovery's retries, the same way for the same seed", func(ctx SpecContext) {
		run := func() (int, uint64, uint64) {
			f := StartFabric(ibtest.FatTree(2, 4))
			for _, s := range f.Switches {
				for i := 1; i <= s.Node.NumPorts(); i++ {
					Expect(f.SetDropRate(s.Topo.ID, i, 0.05)).To(Succeed())
				}
			}
			// A directed-route SMP three switches deep crosses up to six
			// lossy ports: about one try in four is lost, so the default
			// three retries leave some SMP failing for many seeds; eight
			// leave about one in 10^5.
			res, err := f.DiscoverFromWith(ctx, f.FirstHCA().Topo.ID, 1, discover.Options{Retries: 8})
			Expect(err).NotTo(HaveOccurred())
			return len(res.Topology.Nodes), res.SMPs, f.Emu.Dropped()
		}
		n1, smps1, dropped1 := run()
		Expect(dropped1).To(BeNumerically(">", 0), "frames were lost")
		Expect(n1).To(Equal(14))
		n2, smps2, dropped2 := run()
		Expect([]uint64{uint64(n2), smps2, dropped2}).To(Equal([]uint64{uint64(n1), smps1, dropped1}), "the seed replays the losses exactly")
	}, SpecTimeout(2*time.Minute))

	It("past what retries can cover shows up as problems, not a hang", func(ctx SpecContext) {
		f := StartFabric(ibtest.FatTree(2, 4))
		first := f.FirstHCA()
		peer, err := f.Port(first.Topo.ID, 1)
		Expect(err).NotTo(HaveOccurred())
		var sw string
		var swPort int
		Expect(f.Emu.Do(func() { sw, swPort = peer.Peer().Node().Name(), peer.Peer().Num() })).To(Succeed())
		Expect(f.SetDropRate(sw, swPort, 1)).To(Succeed())
		tr, err := f.MADTransport(first.Topo.ID, 1)
		Expect(err).NotTo(HaveOccurred())
		defer tr.Close()
		res, err := discover.Discover(ctx, tr, discover.Options{Retries: 1, Timeout: 50 * time.Millisecond})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Problems).NotTo(BeEmpty(), "every SMP beyond the local port is lost")
		Expect(res.Topology.Nodes).To(HaveLen(1), "only the local node answers")
	}, SpecTimeout(time.Minute))
})

var _ = Describe("a node killed and revived", Ordered, Label("kind:fabric", "env:emu", "fault:nodekill"), func() {
	var (
		f    *ibtest.Fabric
		leaf string
	)
	BeforeAll(func() {
		CheckGoroutines()
		f = StartFabric(ibtest.FatTree(2, 4))
		// The leaf switch of the last CA (not the one discovery starts from).
		p, err := f.Port(cas(f)[len(cas(f))-1], 1)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Emu.Do(func() { leaf = p.Peer().Node().Name() })).To(Succeed())
	})

	It("drops out of discovery with everything only it connects", func(ctx SpecContext) {
		Expect(f.KillNode(leaf)).To(Succeed())
		n, err := discoverNodes(ctx, f)
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(BeNumerically("<", len(f.Topology.Nodes)-1))
	}, SpecTimeout(time.Minute))

	It("comes back when revived", func(ctx SpecContext) {
		Expect(f.ReviveNode(leaf)).To(Succeed())
		Eventually(ctx, func(ctx context.Context) (int, error) { return discoverNodes(ctx, f) }).Should(Equal(len(f.Topology.Nodes)))
	}, SpecTimeout(time.Minute))
})

var _ = Describe("the subnet manager killed and restarted", Ordered, Label("kind:fabric", "env:emu", "fault:smkill", "layer:sm"), func() {
	var (
		f      *ibtest.Fabric
		h      *host.Host
		victim string
	)
	BeforeAll(func() {
		CheckGoroutines()
		f = StartFabric(ibtest.FatTree(2, 4))
		h = FabricHost(f, host.HPCServer2008, host.X64, f.FirstHCA().Topo.ID)
		Expect(install.TrustPublisher(h)).To(Succeed())
		MustMsiexec(h, `start/wait msiexec.exe /i WinOF_2-2-1_wlh_x64.msi /passive OSMS=1`)
		victim = cas(f)[len(cas(f))-1]
	})

	It("brought every port up as the OpenSM service", func() {
		Expect(install.RunningSM(h)).NotTo(BeNil())
		for _, ca := range cas(f) {
			Expect(portState(f, ca, 1)).To(Equal(wire.PortStateActive), ca)
		}
		Expect(install.Vstat(h, install.VstatOptions{})).To(ContainSubstring("port_state=PORT_ACTIVE (4)"))
	})

	It("dies: the service stops, the ports stay active", func() {
		Expect(h.KillService("OpenSM")).To(Succeed())
		Expect(install.RunningSM(h)).To(BeNil())
		Expect(h.Service("OpenSM")).To(HaveField("State", host.ServiceStopped))
		Expect(h.EventsFrom("Service Control Manager")).To(ContainElement(HaveField("ID", uint32(7034))))
		Consistently(func() wire.PortState { return portState(f, victim, 1) }).Should(Equal(wire.PortStateActive))
	})

	It("without it, a port that flaps stays initialised, not active", func() {
		Expect(f.LinkDown(victim, 1)).To(Succeed())
		Expect(f.LinkUp(victim, 1)).To(Succeed())
		Eventually(func() wire.PortState { return portState(f, victim, 1) }).Should(Equal(wire.PortStateInit))
		Consistently(func() wire.PortState { return portState(f, victim, 1) }).Should(Equal(wire.PortStateInit))
	})

	It("restarted, sweeps again and brings the port back to active", func() {
		Expect(h.StartService("OpenSM")).To(Succeed())
		Expect(install.RunningSM(h)).NotTo(BeNil())
		Eventually(func() wire.PortState { return portState(f, victim, 1) }).Should(Equal(wire.PortStateActive))
		log, err := h.ReadFile(install.OpenSMLog)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(log)).To(ContainSubstring("SUBNET UP"))
	})
})
