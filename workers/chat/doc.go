// Package chat is chat-handler: text RAG as two durable stages. chat-retrieve embeds the
// question, searches the retriever and reranks (each behind its breaker); chat-generate builds
// the prompt from the kept sources and asks the LLM, streaming tokens live on core NATS and
// publishing the final answer durably. Two stages, so a slow or failing LLM neither repeats
// retrieval nor blocks it, and KEDA scales the LLM-bound stage on its own lag. The RAG pipeline
// itself is internal/rag, which voice-assistant uses too.
package chat
