"""The node types of a flow, one module each (DESIGN §5)."""

from __future__ import annotations

from .ai_model import AIModelCallConfig, AIModelNode, AIModelNodeInput, AIModelNodeSettings
from .base import Node, NodeFailedError
from .command import CommandNode, CommandNodeSettings, CommandResult
from .dana import DanaNode
from .file_operation import FileEdit, FileOperation, FileOperationNode, FileOperationNodeSettings
from .folder_analyzer import FolderAnalysisOperation, FolderAnalyzerNode, FolderAnalyzerSettings
from .python import PythonNode

__all__ = [
    "AIModelCallConfig",
    "AIModelNode",
    "AIModelNodeInput",
    "AIModelNodeSettings",
    "CommandNode",
    "CommandNodeSettings",
    "CommandResult",
    "DanaNode",
    "FileEdit",
    "FileOperation",
    "FileOperationNode",
    "FileOperationNodeSettings",
    "FolderAnalysisOperation",
    "FolderAnalyzerNode",
    "FolderAnalyzerSettings",
    "Node",
    "NodeFailedError",
    "PythonNode",
]
