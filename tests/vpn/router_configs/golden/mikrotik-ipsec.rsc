# Site-to-site VPN 'Head Office (Berlin)' - MikroTik RouterOS v7 configuration (customer side).
# Customer gateway (this router's public IP): 198.51.100.7
# On-premises subnet: 192.168.10.0/24   Platform VPC: 10.20.0.0/16
# IKEv2: AES-256-CBC / SHA-256 / DH group 14; IKE lifetime 28800 s, child SA 3600 s with PFS group 14; DPD 10 s / 30 s.
# Tunnel 1: endpoint 203.0.113.10, inside 169.254.10.2/30 (cloud side 169.254.10.1)
# Tunnel 2: endpoint 203.0.113.20, inside 169.254.11.2/30 (cloud side 169.254.11.1)
# This file contains the pre-shared keys: keep it secret.
#
# Deployment steps:
# 1. Check the WAN address: the router must own (or be 1:1 NATed to) the customer gateway IP 198.51.100.7, and allow UDP 500/4500 and ESP from both tunnel endpoints in /ip firewall filter (input chain).
# 2. Upload this file (Files) and run: /import file-name=mikrotik-ipsec.rsc - or paste it into a terminal.
# 3. The NAT rule must come before your masquerade rule (place-before=0 does that); the raw notrack rules keep fasttrack from bypassing IPsec.
# 4. The IPsec policy is the route to 10.20.0.0/16: no static route is needed.
# 5. Check: /ip ipsec active-peers print shows tunnel 1 established; /ip ipsec policy print shows it with PH2 state established.
# 6. Failover: if tunnel 1 is down, disable its policy and enable tunnel 2's (or automate this with /tool netwatch on the tunnel 1 inside address).

/ip ipsec profile
add name="head-office-berlin-ike" hash-algorithm=sha256 enc-algorithm=aes-256 dh-group=modp2048 lifetime=8h dpd-interval=10s dpd-maximum-failures=3 nat-traversal=yes
/ip ipsec proposal
add name="head-office-berlin-esp" auth-algorithms=sha256 enc-algorithms=aes-256-cbc pfs-group=modp2048 lifetime=1h
/ip ipsec peer
add name="head-office-berlin-tunnel1" address=203.0.113.10/32 exchange-mode=ike2 profile="head-office-berlin-ike" send-initial-contact=yes comment="Head Office (Berlin) tunnel 1"
add name="head-office-berlin-tunnel2" address=203.0.113.20/32 exchange-mode=ike2 profile="head-office-berlin-ike" send-initial-contact=yes comment="Head Office (Berlin) tunnel 2"
/ip ipsec identity
add peer="head-office-berlin-tunnel1" auth-method=pre-shared-key secret="Xq3_f9.LmP2wZ8rT_kB4nV7yD1cA6sE0" my-id=address:198.51.100.7 generate-policy=no
add peer="head-office-berlin-tunnel2" auth-method=pre-shared-key secret="It's a \"key\" with \$HOME, `id`, \\ & <xml>" my-id=address:198.51.100.7 generate-policy=no
/ip ipsec policy
add peer="head-office-berlin-tunnel1" tunnel=yes src-address=192.168.10.0/24 dst-address=10.20.0.0/16 proposal="head-office-berlin-esp" action=encrypt level=unique comment="Head Office (Berlin) tunnel 1"
add peer="head-office-berlin-tunnel2" tunnel=yes src-address=192.168.10.0/24 dst-address=10.20.0.0/16 proposal="head-office-berlin-esp" action=encrypt level=unique comment="Head Office (Berlin) tunnel 2" disabled=yes
# Inside tunnel addresses (monitoring; policy-based IPsec does not route through them)
/interface bridge
add name="head-office-berlin-inside" protocol-mode=none comment="Head Office (Berlin) (site-to-site VPN)"
/ip address
add address=169.254.10.2/30 interface="head-office-berlin-inside" comment="Head Office (Berlin) tunnel 1 inside (cloud side 169.254.10.1)"
add address=169.254.11.2/30 interface="head-office-berlin-inside" comment="Head Office (Berlin) tunnel 2 inside (cloud side 169.254.11.1)"
/ip firewall nat
add chain=srcnat action=accept src-address=192.168.10.0/24 dst-address=10.20.0.0/16 place-before=0 comment="Head Office (Berlin) (site-to-site VPN)"
/ip firewall raw
add chain=prerouting action=notrack src-address=192.168.10.0/24 dst-address=10.20.0.0/16 comment="Head Office (Berlin) (site-to-site VPN)"
add chain=prerouting action=notrack src-address=10.20.0.0/16 dst-address=192.168.10.0/24 comment="Head Office (Berlin) (site-to-site VPN)"
/ip firewall mangle
add chain=forward action=change-mss new-mss=1379 passthrough=yes protocol=tcp tcp-flags=syn tcp-mss=1380-65535 src-address=192.168.10.0/24 dst-address=10.20.0.0/16 comment="Head Office (Berlin) (site-to-site VPN)"
add chain=forward action=change-mss new-mss=1379 passthrough=yes protocol=tcp tcp-flags=syn tcp-mss=1380-65535 src-address=10.20.0.0/16 dst-address=192.168.10.0/24 comment="Head Office (Berlin) (site-to-site VPN)"
