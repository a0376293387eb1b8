"""The link and transport layers of high-level charging (ISO 15118-3, ISO 15118-2 7.x, -20).

    evstack.hlc.slac        matching EV and EVSE over HomePlug Green PHY (ISO 15118-3 Annex A)
        messages            the SLAC management messages as Ethernet frames, both ways
        timing              the standard's timers and counters, with where they come from
        core                what both state machines share: timers, outputs, events
        ev, evse            the PEV and EVSE state machines (sans-IO: frames and time in,
                            frames, deadlines and events out)
        modem               a stand-in for the Green PHY modem: attenuation profiles,
                            CM_SET_KEY, joining a logical network
        link                SimulatedLink: many EVs and EVSEs, an attenuation per pair,
                            a simulated clock
        rawsocket           the same cores on a real interface (AF_PACKET, ethertype 0x88E1)
    evstack.hlc.transport   what runs over the link once it is up
        netif               interfaces, link-local addresses, sockets made by a factory
        sdp                 SECC Discovery Protocol over UDP on ff02::1 (responder, requester)
        stream              V2GTP messages over TCP, optionally TLS (server, client)
        tls                 TLS 1.2 (ISO 15118-2) and TLS 1.3 (ISO 15118-20) contexts
        pki                 a test PKI: V2G root, CPO sub-CAs, SECC leaf

The SLAC cores do no I/O and read no clock: a driver (SimulatedLink, the raw-socket runner)
feeds them frames and the time and carries out what they ask. The transport pieces are
asyncio; every socket comes from a factory so that tests can make them inside network
namespaces. See docs/hlc-transport.md.
"""
