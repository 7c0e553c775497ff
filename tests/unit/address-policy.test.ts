import { describe, expect, it } from 'vitest'
import { addressRange, isAllowedAddress, isAllowedHost, parseAllowList } from '../../adapters/net/address-policy.ts'
import { ConfigError } from '../../core/config/index.ts'
import { loadConfig } from '../../adapters/channels.ts'

/**
 * The one classification every outgoing request to a user's URL goes through: which addresses are
 * public, and the name of the range of those that are not (it appears in the refusal message).
 */
describe('address ranges', () => {
  const table: [address: string, range: string][] = [
    // public
    ['8.8.8.8', 'public'],
    ['93.184.215.14', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001:82a::200e', 'public'],
    // IPv4 special ranges
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.5', 'private network'],
    ['172.16.0.1', 'private network'],
    ['172.31.255.255', 'private network'],
    ['192.168.1.1', 'private network'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['192.0.2.10', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['192.0.0.8', 'reserved'],
    ['240.0.0.1', 'reserved'],
    // next to the ranges: public
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['169.255.0.1', 'public'],
    ['11.0.0.1', 'public'],
    // IPv6 special ranges
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique local'],
    ['fd12:3456:789a::1', 'unique local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2001:2::1', 'benchmarking'],
    ['100::1', 'discard-only'],
    ['::7f00:1', 'reserved'],
    ['4000::1', 'reserved'],
    // IPv6 forms that carry an IPv4 address
    ['::ffff:127.0.0.1', 'IPv4-mapped 127.0.0.1'],
    ['::ffff:7f00:1', 'IPv4-mapped 127.0.0.1'],
    ['::ffff:10.0.0.1', 'IPv4-mapped 10.0.0.1'],
    ['::ffff:8.8.8.8', 'IPv4-mapped 8.8.8.8'],
    ['::ffff:0:7f00:1', 'IPv4-translated'],
    ['64:ff9b::7f00:1', 'NAT64 of 127.0.0.1, loopback'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of 169.254.169.254, link-local'],
    ['64:ff9b::808:808', 'public'],
    ['64:ff9b:1::a00:1', 'local-use NAT64'],
    ['2002:a00:1::1', '6to4 of 10.0.0.1, private network'],
    ['2002:7f00:1::', '6to4 of 127.0.0.1, loopback'],
    ['2002:808:808::1', 'public'],
    // Teredo: server 65.54.227.120; client 127.0.0.1 stored inverted (80ff:fffe)
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo of 127.0.0.1, loopback'],
    ['2001:0:a00:1:8000:63bf:f7f7:f7f7', 'Teredo of 10.0.0.1, private network'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo of 192.0.2.45, documentation'],
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', 'public'],
    // not an address
    ['localhost', 'invalid'],
    ['', 'invalid'],
  ]

  it.each(table)('%s is %s', (address, range) => {
    expect(addressRange(address)).toBe(range)
  })

  it('reads a bracketed IPv6 address as in a URL', () => {
    expect(addressRange('[::1]')).toBe('loopback')
    expect(addressRange(new URL('http://[::ffff:127.0.0.1]/').hostname)).toBe('IPv4-mapped 127.0.0.1')
  })
})

describe('the operator allow-list (ALLOW_PRIVATE_URLS)', () => {
  const allow = parseAllowList(['Ollama.Internal', '10.0.0.0/8', '192.168.1.20', 'fd00::/8', '[::1]'])

  it('matches host names exactly, without case or a trailing dot', () => {
    expect(isAllowedHost(allow, 'ollama.internal')).toBe(true)
    expect(isAllowedHost(allow, 'OLLAMA.internal.')).toBe(true)
    expect(isAllowedHost(allow, 'evil.ollama.internal')).toBe(false)
    expect(isAllowedHost(allow, 'ollama.internal.evil.com')).toBe(false)
  })

  it('matches addresses inside the networks, and only those', () => {
    expect(isAllowedAddress(allow, '10.200.3.4')).toBe(true)
    expect(isAllowedAddress(allow, '11.0.0.1')).toBe(false)
    expect(isAllowedAddress(allow, '192.168.1.20')).toBe(true)
    expect(isAllowedAddress(allow, '192.168.1.21')).toBe(false)
    expect(isAllowedAddress(allow, 'fd12::1')).toBe(true)
    expect(isAllowedAddress(allow, 'fc00::1')).toBe(false)
    expect(isAllowedAddress(allow, '::1')).toBe(true)
    expect(isAllowedAddress(allow, '127.0.0.1')).toBe(false)
    // The mapped form of an allowed IPv4 address is that address.
    expect(isAllowedAddress(allow, '::ffff:10.1.1.1')).toBe(true)
    expect(isAllowedAddress(parseAllowList([]), '10.0.0.1')).toBe(false)
  })

  it('is read and checked at boot', () => {
    expect(loadConfig({ DATA_DIR: 'memory://' }).ALLOW_PRIVATE_URLS).toEqual([])
    expect(loadConfig({ DATA_DIR: 'memory://', ALLOW_PRIVATE_URLS: ' Ollama.Internal , 10.0.0.0/8,[fd00::]/8, 127.0.0.1,' }).ALLOW_PRIVATE_URLS).toEqual(['ollama.internal', '10.0.0.0/8', 'fd00::/8', '127.0.0.1'])
    for (const bad of ['http://ollama.internal', '10.0.0.0/33', '10.0.0.300', 'ollama internal', 'fd00::/129', '10.0.0.0/8/1', 'host:11434', '0x7f.1', '2130706433']) {
      let error: unknown
      try {
        loadConfig({ DATA_DIR: 'memory://', ALLOW_PRIVATE_URLS: `ok.internal,${bad}` })
      } catch (e) {
        error = e
      }
      expect(error, bad).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).problems).toEqual(['ALLOW_PRIVATE_URLS: entry 2 is not a host name, IP address or CIDR network (expected e.g. ollama.internal,10.0.0.0/8)'])
    }
  })
})
