"""What runs over the link once SLAC has matched: SDP, V2GTP over TCP, TLS (ISO 15118-2 7.x).

netif     interfaces, link-local addresses, sockets from a factory (namespaces in tests)
sdp       SECC Discovery Protocol on ff02::1 port 15118: the SECC's responder, the
          EVCC's requester
stream    V2GTP messages over TCP, optionally TLS: V2gtpStream, the SECC's server and
          the EVCC's connect
tls       contexts for TLS 1.2 (ISO 15118-2) and TLS 1.3 (ISO 15118-20)
pki       a test PKI: V2G root, CPO sub-CAs 1 and 2, SECC leaf
"""
