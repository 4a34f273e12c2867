//! Streaming an object's bytes (or a range of them) out of its layout.
//!
//! A blocking producer reads verified chunks from the tiers and feeds them through a
//! two-buffer channel to the response body, so a slow client holds at most a few MiB and
//! a fast one is never waiting on a thread hop per frame. The first blob is opened before
//! the response starts, so a missing or corrupt blob becomes an error status, not a
//! truncated body; later corruption ends the body early with an error (never wrong bytes).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use vmgw_tiering::{DataReader, Tier, TierError};

use super::error::{BodyError, ObjectError, ObjectResult};
use super::ingest::ByteStream;
use super::pins::PinGuard;
use super::tiers::Tiers;
use crate::meta::{BlobRef, Layout};

/// The receiving end of the producer's channel as a stream.
struct ChannelStream(mpsc::Receiver<Result<Bytes, BodyError>>);

impl futures::Stream for ChannelStream {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// A contiguous piece of one blob.
struct Segment {
    blob: BlobRef,
    offset: u64,
    len: u64,
}

/// The blob pieces that make up `range` of an object with this layout.
fn segments(layout: &Layout, range: &Range<u64>) -> Vec<Segment> {
    let blobs: Vec<&BlobRef> = layout.blobs().collect();
    let mut out = Vec::new();
    let mut start_of_blob = 0u64;
    for blob in blobs {
        let end_of_blob = start_of_blob + blob.size;
        let from = range.start.max(start_of_blob);
        let to = range.end.min(end_of_blob);
        if from < to {
            out.push(Segment {
                blob: blob.clone(),
                offset: from - start_of_blob,
                len: to - from,
            });
        }
        start_of_blob = end_of_blob;
    }
    out
}

/// Streams `range` of an object. `pins` stays alive until the stream is finished.
pub async fn stream_range(
    tiers: &Tiers,
    layout: Layout,
    range: Range<u64>,
    pins: PinGuard,
) -> ObjectResult<ByteStream> {
    if let Layout::Inline { data, crc32c } = &layout {
        if crc_fast::crc32_iscsi(data) != *crc32c {
            return Err(ObjectError::Internal(
                "inline object data failed its checksum".into(),
            ));
        }
        let start =
            usize::try_from(range.start).map_err(|e| ObjectError::Internal(e.to_string()))?;
        let end = usize::try_from(range.end).map_err(|e| ObjectError::Internal(e.to_string()))?;
        let bytes =
            Bytes::copy_from_slice(data.get(start..end).ok_or(ObjectError::InvalidRange {
                size: data.len() as u64,
            })?);
        return Ok(Box::pin(futures::stream::once(async move { Ok(bytes) })));
    }
    let segments = segments(&layout, &range);
    let mut resolved = Vec::with_capacity(segments.len());
    for segment in segments {
        let tier = tiers.get(&segment.blob.tier).ok_or_else(|| {
            ObjectError::Internal(format!(
                "object data is on unknown tier {:?}",
                segment.blob.tier
            ))
        })?;
        resolved.push((tier, segment));
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, BodyError>>(2);
    let (opened_tx, opened_rx) = oneshot::channel::<Result<(), TierError>>();
    tokio::task::spawn_blocking(move || produce(resolved, &tx, opened_tx, pins));
    match opened_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(TierError::NotFound(id))) => {
            return Err(ObjectError::Internal(format!(
                "object data {id} is missing"
            )));
        }
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => return Err(ObjectError::Internal("read worker stopped".into())),
    }
    Ok(Box::pin(ChannelStream(rx)))
}

fn produce(
    segments: Vec<(Arc<dyn Tier>, Segment)>,
    tx: &mpsc::Sender<Result<Bytes, BodyError>>,
    opened: oneshot::Sender<Result<(), TierError>>,
    pins: PinGuard,
) {
    let mut opened = Some(opened);
    for (tier, segment) in segments {
        let reader = match tier.open(segment.blob.id) {
            Ok(reader) => reader,
            Err(e) => {
                match opened.take() {
                    Some(opened) => drop(opened.send(Err(e))),
                    None => drop(tx.blocking_send(Err(BodyError::Incomplete(e.to_string())))),
                }
                return;
            }
        };
        if reader.len() != segment.blob.size {
            let e = TierError::Corrupt {
                id: segment.blob.id,
                reason: format!(
                    "blob holds {} bytes, metadata says {}",
                    reader.len(),
                    segment.blob.size
                ),
            };
            match opened.take() {
                Some(opened) => drop(opened.send(Err(e))),
                None => drop(tx.blocking_send(Err(BodyError::Incomplete(e.to_string())))),
            }
            return;
        }
        if let Some(opened) = opened.take() {
            let _ = opened.send(Ok(()));
        }
        let sent = if tier.parallel_reads() && segment.len >= PARALLEL_MIN {
            send_segment_parallel(reader, tier.as_ref(), &segment, tx)
        } else {
            send_segment(reader, &segment, tx)
        };
        if !sent {
            return;
        }
    }
    if let Some(opened) = opened.take() {
        let _ = opened.send(Ok(()));
    }
    drop(pins);
}

/// Segments at least this long are read by two threads on tiers that decode chunks.
const PARALLEL_MIN: u64 = 8 << 20;
/// The pieces the two readers take turns at; a multiple of the chunk size.
const PIECE: u64 = 1 << 20;

/// Sends one segment read by two readers on two threads, each decoding every other
/// piece, so that decompression uses two cores; pieces go out in order. False when the
/// stream must stop.
fn send_segment_parallel(
    first: Box<dyn DataReader>,
    tier: &dyn Tier,
    segment: &Segment,
    tx: &mpsc::Sender<Result<Bytes, BodyError>>,
) -> bool {
    let second = match tier.open(segment.blob.id) {
        Ok(reader) => reader,
        Err(_) => return send_segment(first, segment, tx),
    };
    let end = segment.offset + segment.len;
    // Piece boundaries: the segment start, then every PIECE-aligned offset.
    let mut bounds = vec![segment.offset];
    let mut next = (segment.offset / PIECE + 1) * PIECE;
    while next < end {
        bounds.push(next);
        next += PIECE;
    }
    bounds.push(end);
    let pieces: Vec<(u64, u64)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let blob = segment.blob.id;
    std::thread::scope(|scope| {
        let mut lanes = Vec::new();
        for (lane, mut reader) in [first, second].into_iter().enumerate() {
            let (lane_tx, lane_rx) = std::sync::mpsc::sync_channel::<Result<Bytes, String>>(2);
            let mine: Vec<(u64, u64)> = pieces.iter().copied().skip(lane).step_by(2).collect();
            scope.spawn(move || {
                for (start, stop) in mine {
                    let piece = read_piece(reader.as_mut(), start, stop);
                    let failed = piece.is_err();
                    if lane_tx.send(piece).is_err() || failed {
                        return;
                    }
                }
            });
            lanes.push(lane_rx);
        }
        for i in 0..pieces.len() {
            match lanes[i % 2].recv() {
                Ok(Ok(bytes)) => {
                    if tx.blocking_send(Ok(bytes)).is_err() {
                        return false;
                    }
                }
                Ok(Err(e)) => {
                    tracing::error!(%blob, error = %e, "read failed mid-stream");
                    let _ = tx.blocking_send(Err(BodyError::Incomplete(e)));
                    return false;
                }
                Err(_) => return false,
            }
        }
        true
    })
}

/// Reads `[start, stop)` whole.
fn read_piece(reader: &mut dyn DataReader, start: u64, stop: u64) -> Result<Bytes, String> {
    let mut offset = start;
    let mut out = bytes::BytesMut::with_capacity(usize::try_from(stop - start).unwrap_or(0));
    while offset < stop {
        let want = usize::try_from(stop - offset).unwrap_or(usize::MAX);
        let bytes = reader.read_at(offset, want).map_err(|e| e.to_string())?;
        if bytes.is_empty() {
            return Err(format!("no bytes at {offset}"));
        }
        offset += bytes.len() as u64;
        if out.is_empty() && offset == stop {
            return Ok(bytes);
        }
        out.extend_from_slice(&bytes);
    }
    Ok(out.freeze())
}

/// Sends one segment; false when the stream must stop (client gone or read failed).
fn send_segment(
    mut reader: Box<dyn DataReader>,
    segment: &Segment,
    tx: &mpsc::Sender<Result<Bytes, BodyError>>,
) -> bool {
    let mut offset = segment.offset;
    let end = segment.offset + segment.len;
    while offset < end {
        let want = usize::try_from(end - offset).unwrap_or(usize::MAX);
        match reader.read_at(offset, want) {
            Ok(bytes) => {
                offset += bytes.len() as u64;
                if tx.blocking_send(Ok(bytes)).is_err() {
                    return false;
                }
            }
            Err(e) => {
                tracing::error!(blob = %segment.blob.id, tier = %segment.blob.tier, error = %e, "read failed mid-stream");
                let _ = tx.blocking_send(Err(BodyError::Incomplete(e.to_string())));
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmgw_tiering::DataId;

    #[test]
    fn segments_cover_exactly_the_range() {
        let blob = |size| BlobRef {
            id: DataId::random(),
            tier: "ssd".into(),
            size,
        };
        let layout = Layout::Parts(
            [10, 20, 5]
                .into_iter()
                .enumerate()
                .map(|(i, size)| crate::meta::PartLayout {
                    number: i as u32 + 1,
                    blob: blob(size),
                    etag: String::new(),
                    checksum: None,
                })
                .collect(),
        );
        let covered = |range: Range<u64>| -> Vec<(u64, u64)> {
            segments(&layout, &range)
                .iter()
                .map(|s| (s.offset, s.len))
                .collect()
        };
        assert_eq!(covered(0..35), vec![(0, 10), (0, 20), (0, 5)]);
        assert_eq!(covered(5..12), vec![(5, 5), (0, 2)]);
        assert_eq!(covered(30..35), vec![(0, 5)]);
        assert_eq!(covered(12..13), vec![(2, 1)]);
    }
}
