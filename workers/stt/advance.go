package stt

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jetflow-dev/jetflow/internal/audio/vad"
	"github.com/jetflow-dev/jetflow/internal/failure"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// outcome is what became of an arriving chunk.
type outcome int

const (
	outcomeConsumed  outcome = iota // its audio went through the VAD (now or by an earlier handler)
	outcomeDuplicate                // its sequence was consumed before
	outcomeWaiting                  // it waits for earlier chunks
	outcomeDropped                  // it came after the end of the stream
)

// arrival is the result of applying one chunk to its session.
type arrival struct {
	outcome outcome
	// wait is the time left before the gap the chunk waits on times out (outcomeWaiting).
	wait time.Duration
	// changed says the session must be written.
	changed bool
	// claimed says the caller holds the outbox lease and must publish the outbox.
	claimed bool
	// gaps are the gaps this chunk's update skipped, for the log.
	gaps []seqGap
}

// SegmentID is the id of segment n of a session: the Output.ID of its FINAL transcript.
func SegmentID(sessionID string, n int64) string {
	return sessionID + "-" + strconv.FormatInt(n, 10)
}

// GapID is the id of the GAP transcript of a gap starting at sequence first.
func GapID(sessionID string, first int64) string {
	return sessionID + "-gap-" + strconv.FormatInt(first, 10)
}

// detector returns a fresh VAD for a session at sampleRate.
func (w *Worker) detector(sampleRate int) (*vad.Energy, error) {
	cfg := w.cfg.VAD
	cfg.SampleRate = sampleRate
	d, err := vad.New(cfg)
	if err != nil {
		return nil, failure.Permanent(fmt.Errorf("configuring the VAD at %d Hz: %w", sampleRate, err))
	}
	return d, nil
}

// arrive applies chunk c (stored at streamSeq) to the session st of id, as of now. It is the
// body of a CAS update: it may run several times and does no I/O. When it has to consume a
// pending chunk that is not in cache it returns a *needChunksError.
func (w *Worker) arrive(st *sessionState, exists bool, id string, c *jetflowv1.SttAudioChunk, streamSeq uint64, now time.Time, cache chunkCache, token string) (arrival, error) {
	rate := int(c.GetSampleRate())
	if !exists {
		det, err := w.detector(rate)
		if err != nil {
			return arrival{}, err
		}
		*st = sessionState{SampleRate: rate, VAD: det.State()}
	}
	if rate != st.SampleRate {
		return arrival{}, failure.Permanent(fmt.Errorf("chunk %d at %d Hz: %w (%d Hz)", c.GetSequence(), rate, errSampleRate, st.SampleRate))
	}
	seq := c.GetSequence()
	var res arrival
	switch {
	case seq < st.NextSeq:
		res.outcome = outcomeDuplicate
	case st.Ended:
		res.outcome = outcomeDropped
	default:
		if st.Pending == nil {
			st.Pending = map[int64]pendingChunk{}
		}
		// A chunk already pending is a redelivery (or a copy) of one that waits: it changes the
		// session only if it now moves it on.
		_, known := st.Pending[seq]
		if !known {
			st.Pending[seq] = pendingChunk{StreamSeq: streamSeq, Arrived: now.UnixMilli()}
			st.LastAudioAt = now
		}
		before := st.NextSeq
		gaps, err := w.settle(st, id, now, cache, c, streamSeq)
		if err != nil {
			return arrival{}, err
		}
		res.gaps = gaps
		res.changed = !known || st.NextSeq != before || !exists
		switch {
		case seq < st.NextSeq:
			res.outcome = outcomeConsumed
		case st.Ended:
			res.outcome = outcomeDropped
		default:
			res.outcome = outcomeWaiting
			res.wait = st.gapSince().Add(w.cfg.GapTimeout).Sub(now)
		}
	}
	if st.claim(now, w.cfg.PublishLease, token) {
		res.claimed, res.changed = true, true
	}
	return res, nil
}

// settle consumes pending chunks in sequence order for as long as it can: the next one when it
// is there, or, once the gap before the next one has waited GapTimeout, the first one after
// the gap. cur is the chunk being handled (stored at curSeq), whose data needs no reading back.
func (w *Worker) settle(st *sessionState, id string, now time.Time, cache chunkCache, cur *jetflowv1.SttAudioChunk, curSeq uint64) ([]seqGap, error) {
	det, err := w.detector(st.SampleRate)
	if err != nil {
		return nil, err
	}
	if err := det.Restore(st.VAD); err != nil {
		return nil, fmt.Errorf("restoring the VAD of session %s: %w", id, err)
	}
	var gaps []seqGap
	for !st.Ended && len(st.Pending) > 0 {
		p, ok := st.Pending[st.NextSeq]
		if !ok {
			if now.Sub(st.gapSince()) < w.cfg.GapTimeout {
				break
			}
			next := st.minPending()
			if next < st.NextSeq {
				// This code removes an entry when it consumes or skips its sequence, so only a
				// value edited in the (operator-writable) bucket holds one; jumping back to it
				// would move NextSeq backwards and consume sequences twice.
				delete(st.Pending, next)
				continue
			}
			gaps = append(gaps, recordGap(st, id, st.NextSeq, next-1))
			st.NextSeq = next
			continue
		}
		c, streamSeq := cur, curSeq
		if c.GetSequence() != st.NextSeq {
			var read bool
			if c, read = cache[p.StreamSeq]; !read {
				return nil, needChunks(st, cache, now.Sub(st.gapSince()) >= w.cfg.GapTimeout)
			}
			streamSeq = p.StreamSeq
		}
		if c == nil || c.GetSessionId() != id || c.GetSequence() != st.NextSeq || int(c.GetSampleRate()) != st.SampleRate {
			// Gone from the stream, or not the chunk the session recorded: its audio is lost.
			delete(st.Pending, st.NextSeq)
			gaps = append(gaps, recordGap(st, id, st.NextSeq, st.NextSeq))
			st.NextSeq++
			continue
		}
		if err := w.consume(st, det, id, c, streamSeq, now); err != nil {
			return nil, err
		}
	}
	st.VAD = det.State()
	st.prune(det.KeepFrom())
	return gaps, nil
}

// needChunks lists the pending chunks that have not been read yet and that the update is about
// to consume: those from NextSeq on as far as they run without a hole, or, when the update is
// jumping over timed-out gaps, all of them. One round of reads usually serves the update.
func needChunks(st *sessionState, cache chunkCache, jumping bool) error {
	e := &needChunksError{}
	if jumping {
		for _, p := range st.Pending {
			if _, read := cache[p.StreamSeq]; !read {
				e.streamSeqs = append(e.streamSeqs, p.StreamSeq)
			}
		}
		slices.Sort(e.streamSeqs)
		return e
	}
	for seq := st.NextSeq; ; seq++ {
		p, ok := st.Pending[seq]
		if !ok {
			break
		}
		if _, read := cache[p.StreamSeq]; !read {
			e.streamSeqs = append(e.streamSeqs, p.StreamSeq)
		}
	}
	return e
}

// consume pushes chunk c, the one at NextSeq, through the VAD and closes the segments it ends.
func (w *Worker) consume(st *sessionState, det *vad.Energy, id string, c *jetflowv1.SttAudioChunk, streamSeq uint64, now time.Time) error {
	if pcm := c.GetPcm(); len(pcm) > 0 {
		events, err := det.Push(pcm)
		if err != nil {
			return fmt.Errorf("analysing chunk %d of session %s: %w", c.GetSequence(), id, err)
		}
		samples := int64(len(pcm) / 2)
		st.Chunks = append(st.Chunks, chunkRef{Seq: c.GetSequence(), StreamSeq: streamSeq, Offset: st.Offset, Samples: samples})
		st.Offset += samples
		if l := c.GetLanguage(); l != "" {
			st.Language = l
		}
		if sp := c.GetSpeakerId(); sp != "" {
			st.SpeakerID = sp
		}
		closeSegments(st, id, events)
	}
	delete(st.Pending, st.NextSeq)
	st.NextSeq++
	st.LastAudioAt = now
	if c.GetEndOfStream() {
		closeSegments(st, id, det.Flush())
		st.Ended = true
		st.Pending = nil
	}
	return nil
}

// closeSegments puts the segments that events end into the outbox, carrying the gaps skipped
// since the previous one.
func closeSegments(st *sessionState, id string, events []vad.Event) {
	for _, e := range events {
		if e.Kind != vad.SegmentEnd {
			continue
		}
		st.Outbox = append(st.Outbox, outItem{
			ID:        SegmentID(id, st.NextSegment),
			Kind:      itemFinal,
			Segment:   st.NextSegment,
			Start:     e.Start,
			End:       e.End,
			Reason:    e.Reason,
			Gaps:      st.Gaps,
			Language:  st.Language,
			SpeakerID: st.SpeakerID,
		})
		st.Gaps = nil
		st.NextSegment++
	}
}

// recordGap reports the missing sequences first..last: a GAP item in the outbox now, and the
// gap carried on the next segment.
func recordGap(st *sessionState, id string, first, last int64) seqGap {
	g := seqGap{First: first, Last: last}
	st.Gaps = append(st.Gaps, g)
	st.Outbox = append(st.Outbox, outItem{
		ID:        GapID(id, first),
		Kind:      itemGap,
		Segment:   st.NextSegment,
		Start:     st.Offset,
		End:       st.Offset,
		Gaps:      []seqGap{g},
		Language:  st.Language,
		SpeakerID: st.SpeakerID,
	})
	return g
}

// idleDue reports whether the session has an open segment and has had no new audio for the VAD
// idle timeout. A session holding chunks that wait for a missing one is not idle: its audio
// arrived, and the gap timeout, not the idle timeout, decides when it moves on.
func (w *Worker) idleDue(st *sessionState, now time.Time) bool {
	open := st.VAD.Phase == vad.PhaseOnset || st.VAD.Phase == vad.PhaseSpeech
	return open && !st.Ended && len(st.Pending) == 0 && now.Sub(st.LastAudioAt) >= w.cfg.VAD.IdleTimeout
}

// idle closes the open segment of a session that has had no new audio for the VAD idle
// timeout, and takes the outbox lease when there is something to publish and the lease is free.
// Like arrive it is the body of a CAS update.
func (w *Worker) idle(st *sessionState, id string, now time.Time, token string) (changed, claimed bool, err error) {
	elapsed := now.Sub(st.LastAudioAt)
	if w.idleDue(st, now) {
		det, err := w.detector(st.SampleRate)
		if err != nil {
			return false, false, err
		}
		if err := det.Restore(st.VAD); err != nil {
			return false, false, fmt.Errorf("restoring the VAD of session %s: %w", id, err)
		}
		closeSegments(st, id, det.Idle(elapsed))
		st.VAD = det.State()
		st.prune(det.KeepFrom())
		changed = true
	}
	if st.claim(now, w.cfg.PublishLease, token) {
		changed, claimed = true, true
	}
	return changed, claimed, nil
}

// keepFrom is the earliest offset the session's VAD may still need.
func (w *Worker) keepFrom(st *sessionState) int64 {
	det, err := w.detector(st.SampleRate)
	if err != nil || det.Restore(st.VAD) != nil {
		return 0 // keep everything rather than lose audio
	}
	return det.KeepFrom()
}
