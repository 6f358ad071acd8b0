//! `DatagramTransport`: a UDP or Unix datagram socket, asyncio's
//! `_SelectorDatagramTransport`.
